"""The chat page in a real headless Chromium (Debian's), against our real server over a fake engine."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
import uvicorn

from hkllm.api.app import build_app
from hkllm.engine import FakeEngine
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it)")


@pytest.fixture
def live_server(settings):
    engine = FakeEngine(default=lambda r: "收到：" + r.messages[-1].text(), model="fake-model")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", engine
    server.should_exit = True
    thread.join(10)


def test_page_streams_a_reply_and_keeps_history(live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, engine = live_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("document.getElementById('status').textContent.includes('fake-model')")
        page.fill("#input", "我想問下強積金")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelectorAll('.msg.assistant').length === 1 && "
                               "document.querySelector('.msg.assistant').textContent.includes('收到')")
        assert page.text_content(".msg.assistant") == "收到：我想問下強積金"
        page.fill("#input", "second")
        page.click("#send")
        page.wait_for_function("document.querySelectorAll('.msg.assistant').length === 2 && "
                               "document.querySelectorAll('.msg.assistant')[1].textContent === '收到：second'")
        page.screenshot(path=str(tmp_path / "chat.png"))
        browser.close()
    last = engine.requests[-1]
    # history was sent (plus the reply-language instruction the service adds)
    assert [m.role for m in last.messages if m.role != "system"] == ["user", "assistant", "user"]
    assert last.stream is True


def test_page_shows_engine_errors(live_server):
    from playwright.sync_api import sync_playwright

    from hkllm.errors import EngineUnavailable

    url, engine = live_server
    engine.add(EngineUnavailable("embedded model is not running: model file missing"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(url)
        page.fill("#input", "hi")
        page.keyboard.press("Enter")
        page.wait_for_selector(".msg.error")
        assert "model file missing" in page.text_content(".msg.error")
        browser.close()
