"""Settings: env beats TOML beats defaults; every setting is documented."""

from __future__ import annotations

from pathlib import Path

from hkllm.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented():
    text = DOCS.read_text()
    missing = [name for name in Settings.model_fields if f"`HKLLM_{name.upper()}`" not in text]
    assert not missing, f"undocumented settings in docs/settings.md: {missing}"


def test_data_dir_from_env(data_dir):
    s = Settings()
    assert s.data_dir == data_dir
    assert s.db_url == f"sqlite:///{data_dir / 'hkllm.db'}"
    assert s.bundled_model_path.parent == data_dir / "models"


def test_toml_file_then_env_override(tmp_path, monkeypatch):
    config = tmp_path / "hk.toml"
    config.write_text('port = 8123\nengine_url = "http://gpu:8001/v1"\nmax_request_bytes = 2048\n')
    monkeypatch.setenv("HKLLM_CONFIG", str(config))
    s = Settings()
    assert (s.port, s.engine_url, s.max_request_bytes) == (8123, "http://gpu:8001/v1", 2048)
    monkeypatch.setenv("HKLLM_PORT", "9000")
    assert Settings().port == 9000


def test_config_toml_in_data_dir_is_read(data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text('host = "0.0.0.0"\n')
    assert Settings().host == "0.0.0.0"


def test_api_keys_from_env_json(monkeypatch):
    monkeypatch.setenv("HKLLM_API_KEYS", '["a", "b"]')
    assert Settings().api_keys == ["a", "b"]
