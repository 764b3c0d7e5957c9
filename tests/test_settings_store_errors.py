"""Settings sources and precedence (init > env > TOML file > defaults), derived paths; the typed errors and
their OpenAI-style envelopes; the database layer (URLs, SQLite pragmas, migrations, sessions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hkllm import errors
from hkllm.evals import store
from hkllm.settings import Settings, default_data_dir, load_settings
from hkllm.store.db import ALEMBIC_DIR, Database, alembic_config, make_db_engine, migrate, sqlalchemy_url

# ---------------------------------------------------------------- settings


def _toml(path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path.write_text(body, encoding="utf-8")
    monkeypatch.setenv("HKLLM_CONFIG", str(path))
    return path


def test_precedence_init_then_env_then_file_then_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path / "c.toml", "port = 8100\nhost = \"0.0.0.0\"\nembedded_threads = 4\n", monkeypatch)
    monkeypatch.setenv("HKLLM_EMBEDDED_THREADS", "2")
    s = load_settings(port=9999)
    assert (s.port, s.embedded_threads, s.host, s.embedded_ctx) == (9999, 2, "0.0.0.0", 4096)


def test_file_values_of_every_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path / "c.toml", 'api_keys = ["k1", "k2"]\nengine_timeout_s = 12.5\nmodel_path = "/m/x.gguf"\n'
          'reply_lang = "yue"\nunknown_key = 3\n', monkeypatch)
    s = Settings()
    assert s.api_keys == ["k1", "k2"] and s.engine_timeout_s == 12.5 and s.model_path == Path("/m/x.gguf")
    assert s.reply_lang == "yue" and not hasattr(s, "unknown_key")  # unknown keys are ignored


def test_explicit_config_beats_the_data_dir_file(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text("port = 7001\n", encoding="utf-8")
    assert Settings().port == 7001
    _toml(tmp_path / "explicit.toml", "port = 7002\n", monkeypatch)
    assert Settings().port == 7002


def test_bad_values_are_validation_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HKLLM_PORT", "eighty")
    with pytest.raises(ValidationError, match="port"):
        Settings()
    monkeypatch.delenv("HKLLM_PORT")
    _toml(tmp_path / "c.toml", 'embedded_ctx = "big"\n', monkeypatch)
    with pytest.raises(ValidationError, match="embedded_ctx"):
        Settings()


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HKLLM_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "hkllm"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "hkllm"
    monkeypatch.setenv("HKLLM_DATA_DIR", "~/hk")
    assert default_data_dir() == tmp_path / "home" / "hk"


def test_data_dir_from_env_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HKLLM_DATA_DIR", "~/hk")
    assert Settings().data_dir == tmp_path / "hk"


def test_derived_paths(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    assert s.db_url == f"sqlite:///{tmp_path / 'd' / 'hkllm.db'}" and s.log_dir == tmp_path / "d" / "logs"
    assert s.bundled_model_path == tmp_path / "d" / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert Settings(database_url="postgresql://db/hk").db_url == "postgresql://db/hk"
    assert not (tmp_path / "d").exists()
    assert s.ensure_data_dir() == tmp_path / "d" and (tmp_path / "d").is_dir()
    assert s.ensure_data_dir() == tmp_path / "d"  # idempotent


def test_load_settings_reads_the_environment_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_settings()
    monkeypatch.setenv("HKLLM_PORT", "8123")
    assert first.port == 8000 and load_settings().port == 8123
    assert load_settings() is not load_settings()


# ---------------------------------------------------------------- errors

ERRORS = [
    (errors.HkllmError, 500, "server_error", None),
    (errors.InvalidRequest, 400, "invalid_request_error", None),
    (errors.AuthenticationError, 401, "authentication_error", "invalid_api_key"),
    (errors.NotFound, 404, "invalid_request_error", "not_found"),
    (errors.ModelNotFound, 404, "invalid_request_error", "model_not_found"),
    (errors.RequestTooLarge, 413, "invalid_request_error", "request_too_large"),
    (errors.EngineUnavailable, 503, "engine_unavailable", "engine_unavailable"),
    (errors.EngineError, 502, "engine_error", "engine_error"),
    (errors.ModelFileError, 503, "engine_unavailable", "model_file"),
]


@pytest.mark.parametrize(("cls", "status", "kind", "code"), ERRORS, ids=[c.__name__ for c, *_ in ERRORS])
def test_error_envelopes(cls: type[errors.HkllmError], status: int, kind: str, code: str | None) -> None:
    err = cls("資料使用者 not found", param="model")
    assert (err.status, err.type, err.code, str(err)) == (status, kind, code, "資料使用者 not found")
    assert err.to_dict() == {"error": {"message": "資料使用者 not found", "type": kind, "param": "model", "code": code}}
    assert isinstance(err, errors.HkllmError) and isinstance(err, Exception)


def test_code_override_is_per_instance() -> None:
    special = errors.InvalidRequest("bad", code="bad_citation")
    assert special.code == "bad_citation" and errors.InvalidRequest("other").code is None
    assert errors.InvalidRequest.code is None


# ---------------------------------------------------------------- database


@pytest.mark.parametrize(
    ("url", "expected"),
    [("postgresql://u:p@h:5432/hk", "postgresql+psycopg://u:p@h:5432/hk"), ("postgres://h/hk", "postgresql+psycopg://h/hk"),
     ("postgresql+psycopg://h/hk", "postgresql+psycopg://h/hk"), ("sqlite:///x.db", "sqlite:///x.db"),
     ("sqlite:///:memory:", "sqlite:///:memory:")],
)
def test_sqlalchemy_url(url: str, expected: str) -> None:
    assert sqlalchemy_url(url) == expected


def test_alembic_config_survives_percent_signs() -> None:
    cfg = alembic_config("postgresql://u:p%40ss@h/db")
    assert cfg.get_main_option("sqlalchemy.url") == "postgresql+psycopg://u:p%40ss@h/db"
    assert cfg.get_main_option("script_location") == str(ALEMBIC_DIR)


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    database = Database(f"sqlite:///{tmp_path / 'a' / 'b' / 'hk.db'}")
    yield database
    database.dispose()


def test_sqlite_file_pragmas_and_parent_folders(db: Database, tmp_path: Path) -> None:
    assert (tmp_path / "a" / "b" / "hk.db").is_file()
    with db.engine.connect() as conn:
        pragmas = [conn.execute(text(f"PRAGMA {p}")).scalar() for p in
                   ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")]
    assert pragmas == ["wal", 1, 5000, 1]


def test_migrations_reach_the_head_and_are_idempotent(db: Database) -> None:
    heads = set(ScriptDirectory.from_config(alembic_config(db.url)).get_heads())
    migrate(db.url)  # a second run changes nothing
    with db.engine.connect() as conn:
        assert {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))} == heads
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    assert {"chat_log", "eval_run", "eval_item"} <= tables


def test_no_migrations_no_tables(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'bare.db'}", run_migrations=False)
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'table'")).scalar() == 0
    database.dispose()


def _eval_run() -> store.EvalRun:
    return store.EvalRun(task="t", model="m", engine="e", prompt_version="v1", shots=0, max_tokens=8, seed=1,
                         data_fingerprint="f", status="running", n=0, metrics={}, wall_s=0.0, meta={"荃灣": "旺角"})


def test_session_commits_or_rolls_back(db: Database) -> None:
    with db.session() as session:
        run = _eval_run()
        session.add(run)
    assert run.id is not None and run.meta == {"荃灣": "旺角"}  # usable after the session: not expired
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(_eval_run())
        session.flush()
        raise RuntimeError("boom")
    with db.session() as session:
        assert len(store.list_runs(session)) == 1  # the failed session's row was rolled back


def test_foreign_keys_are_enforced_and_cascade(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(store.EvalItem(run_id=999, item_id="x", position=0, subset="s", messages=[], output="",
                                   reference="r", value=0.0, duration_ms=1.0))
    with db.session() as session:
        run = _eval_run()
        session.add(run)
        session.flush()
        session.add(store.EvalItem(run_id=run.id, item_id="x", position=0, subset="s", messages=[], output="",
                                   reference="r", value=0.0, duration_ms=1.0))
    with db.engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys = ON"))
        conn.execute(text("DELETE FROM eval_run"))
        assert conn.execute(text("SELECT count(*) FROM eval_item")).scalar() == 0


def test_memory_database_engine() -> None:
    engine = make_db_engine("sqlite:///:memory:")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
