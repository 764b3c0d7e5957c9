"""The page at / in a real headless Chromium (Debian's), against our real server over a fake engine: the chat,
and the apps menu (every app GET /v1/apps lists, run through a form built from its input schema)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from hkllm.api.app import build_app
from hkllm.engine import FakeEngine
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# where the apps test leaves its screenshot, to look at by hand
APPS_SCREENSHOT = Path(os.environ.get("HKLLM_APPS_SCREENSHOT", "/tmp/h2-apps.png"))
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


def test_apps_menu_lists_echo_and_runs_it_and_the_chat_still_works(live_server):
    from playwright.sync_api import sync_playwright

    url, engine = live_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(url)
        page.wait_for_selector("#apps .app button[data-app-id='echo']")
        assert page.text_content("#apps [data-app-id='echo']") == "Echoecho"  # title, then the id
        assert page.is_hidden("#apps-status")
        page.click("#apps [data-app-id='echo']")
        assert page.is_visible("#app-view") and page.is_hidden("#chat-view")
        assert page.text_content("#app-title") == "Echo"
        assert page.get_attribute("#app-field-text", "maxlength") == "10000"  # from the input schema
        page.fill("#app-field-text", "今日落大雨，記得帶遮。")
        page.click("#app-run")
        page.wait_for_selector("#app-output .field .value")
        assert page.text_content("#app-output .field h3") == "Text"
        assert page.text_content("#app-output .field .value") == "今日落大雨，記得帶遮。"
        page.screenshot(path=str(APPS_SCREENSHOT))
        assert engine.requests == []  # echo uses no model

        page.click("#open-chat")
        assert page.is_visible("#chat-view") and page.is_hidden("#app-view")
        page.fill("#input", "仲喺度嗎？")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelectorAll('.msg.assistant').length === 1 && "
                               "document.querySelector('.msg.assistant').textContent === '收到：仲喺度嗎？'")
        browser.close()


def test_app_errors_are_shown(live_server):
    from playwright.sync_api import sync_playwright

    url, _engine = live_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        page.click("#apps [data-app-id='echo']")
        # past the form's own checks (maxlength), so the server's 400 is what the page shows
        page.eval_on_selector("#app-field-text", "el => { el.removeAttribute('maxlength'); el.value = 'x'.repeat(10001); }")
        page.click("#app-run")
        page.wait_for_selector("#app-output .msg.error")
        message = page.text_content("#app-output .msg.error")
        assert "invalid input for app 'echo'" in message and "text: String should have at most 10000 characters" in message
        browser.close()
