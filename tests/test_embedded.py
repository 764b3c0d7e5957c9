"""Model preparation (chunks → GGUF, hash, stamp) and the supervisor (start, health, restart, stop)."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from hkllm import embedded
from hkllm.embedded import EmbeddedServer, prepare_model
from hkllm.errors import EngineUnavailable, ModelFileError
from hkllm.settings import Settings
from tests.conftest import free_port

FAKE_SERVER = Path(__file__).with_name("fake_openai_server.py")


@pytest.fixture
def fake_chunks(tmp_path, monkeypatch) -> tuple[list[Path], str]:
    parts = []
    for i in range(1, embedded.MODEL_PARTS + 1):
        part = tmp_path / f"part{i:02d}.bin"
        part.write_bytes(os.urandom(1000 + i))
        parts.append(part)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    monkeypatch.setattr(embedded, "_part_file", lambda i: parts[i - 1])
    monkeypatch.setattr(embedded, "MODEL_SHA256", digest)
    return parts, digest


def test_prepare_joins_chunks_in_order_and_verifies(settings, fake_chunks):
    parts, digest = fake_chunks
    seen = []
    path = prepare_model(settings, progress=lambda done, total: seen.append((done, total)))
    assert path == settings.bundled_model_path
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert seen[-1][0] == seen[-1][1] == sum(p.stat().st_size for p in parts)
    assert not path.with_name(path.name + ".partial").exists()


def test_prepare_is_not_redone_when_hash_matches(settings, fake_chunks, monkeypatch):
    path = prepare_model(settings)
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(embedded, "file_sha256", lambda p: pytest.fail("hash recomputed despite a valid stamp"))
    assert prepare_model(settings) == path and path.stat().st_mtime_ns == mtime


def test_prepare_redoes_a_corrupted_model(settings, fake_chunks):
    path = prepare_model(settings)
    good = path.read_bytes()
    path.write_bytes(b"garbage")  # stamp no longer matches size/mtime; hash fails; rejoined
    assert prepare_model(settings).read_bytes() == good


def test_prepare_rejects_wrong_hash(settings, fake_chunks, monkeypatch):
    monkeypatch.setattr(embedded, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelFileError, match="expected 0000"):
        prepare_model(settings)
    assert not settings.bundled_model_path.exists()


def test_missing_chunk_package_names_the_fix(settings, monkeypatch):
    monkeypatch.setattr(embedded.importlib, "import_module", lambda name: (_ for _ in ()).throw(ModuleNotFoundError(name)))
    with pytest.raises(ModelFileError, match=r"hkllm\[embedded\]"):
        prepare_model(settings)


def test_user_model_path_must_exist(tmp_path):
    with pytest.raises(ModelFileError, match="nope.gguf"):
        prepare_model(Settings(model_path=tmp_path / "nope.gguf"))
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert prepare_model(Settings(model_path=gguf)) == gguf


class FakeLlamaServer(EmbeddedServer):
    """The real supervisor, running the stdlib fake server instead of llama.cpp."""

    def command(self) -> list[str]:
        return [sys.executable, str(FAKE_SERVER), str(self.port)]


def _fake_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "d", embedded_port=free_port(), embedded_start_timeout_s=20,
                    model_path=FAKE_SERVER)  # any existing file passes as the "model"


def test_supervisor_starts_restarts_and_stops(tmp_path):
    server = FakeLlamaServer(_fake_settings(tmp_path))
    server.start(wait=True)
    try:
        assert server.healthy()
        first = server.process.pid
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not (server.restarts >= 1 and server.healthy()):
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.2)
        assert server.process.pid != first
        assert "restarting in" in server.log_path.read_text()
    finally:
        server.stop()
    assert server.process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/models", timeout=1)


def test_supervisor_reports_a_child_that_dies_at_start(tmp_path):
    class Dying(FakeLlamaServer):
        def command(self) -> list[str]:
            return [sys.executable, "-c", "import sys; print('boom: bad model'); sys.exit(3)"]

    server = Dying(_fake_settings(tmp_path))
    with pytest.raises(EngineUnavailable, match="exited with code 3") as info:
        server.start(wait=True)
    assert "boom: bad model" in str(info.value)


def test_supervisor_refuses_a_busy_port(tmp_path):
    settings = _fake_settings(tmp_path)
    first = FakeLlamaServer(settings)
    first.start(wait=True)
    try:
        with pytest.raises(EngineUnavailable, match="already serving"):
            FakeLlamaServer(settings).start(wait=True)
    finally:
        first.stop()


def test_command_for_bundled_and_user_models(tmp_path):
    bundled = EmbeddedServer(Settings(data_dir=tmp_path), model_path=tmp_path / "m.gguf")
    assert bundled.command()[-2:] == ["--chat_format", "chatml"]
    user = EmbeddedServer(Settings(data_dir=tmp_path, model_path=tmp_path / "r1.gguf", embedded_threads=2),
                          model_path=tmp_path / "r1.gguf")
    cmd = user.command()
    assert "--chat_format" not in cmd and cmd[cmd.index("--n_threads") + 1] == "2"
