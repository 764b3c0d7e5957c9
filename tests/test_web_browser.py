"""The page at / in a real headless Chromium (Debian's), against our real server over a fake engine: the chat,
and the apps menu (every app GET /v1/apps lists, run through a form built from its input schema); IME-safe
Enter, markdown rendered and sanitised, Copy, Stop and New during a stream, and the API-key field.
Screenshots go to /tmp/web-*.png, to look at by hand."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from contextlib import contextmanager
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


SCREENSHOTS = Path(os.environ.get("HKLLM_WEB_SCREENSHOTS", "/tmp"))


def echo(request) -> str:
    return "收到：" + request.messages[-1].text()


class SlowFakeEngine(FakeEngine):
    """The fake engine, with a pause after every streamed chunk (a model still writing)."""

    async def stream(self, request):
        async for chunk in super().stream(request):
            yield chunk
            await asyncio.sleep(0.25)


@contextmanager
def serving(settings, engine):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_server(settings):
    engine = FakeEngine(default=echo, model="fake-model")
    with serving(settings, engine) as url:
        yield url, engine


@pytest.fixture
def slow_server(settings):
    engine = SlowFakeEngine(default=echo, model="fake-model")
    with serving(settings, engine) as url:
        yield url, engine


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page, with every request to another origin and every uncaught script error it saw."""

    def __init__(self, browser, url: str, **context_options):
        self.context = browser.new_context(viewport={"width": 1000, "height": 650}, **context_options)
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda req: None if req.url.startswith(url + "/") else self.outside.append(req.url))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(url)

    def check_clean(self) -> None:
        assert self.outside == [] and self.errors == []


def sent_messages(engine) -> list[tuple[str, str]]:
    """The last request's conversation, less the system messages the service adds."""
    return [(m.role, m.text()) for m in engine.requests[-1].messages if m.role != "system"]


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


WAIT_MODEL = "document.getElementById('status').textContent.includes('fake-model')"
ENTER_DURING_COMPOSITION = """(init) => document.getElementById('input').dispatchEvent(
    new KeyboardEvent('keydown', Object.assign({key: 'Enter', bubbles: true, cancelable: true}, init)))"""


def test_enter_confirming_an_ime_candidate_does_not_send(live_server, browser):
    url, engine = live_server
    w = Watched(browser, url)
    page = w.page
    page.wait_for_function(WAIT_MODEL)
    page.fill("#input", "我想問")
    page.evaluate(ENTER_DURING_COMPOSITION, {"isComposing": True})  # Enter picks a candidate in the IME
    page.evaluate(ENTER_DURING_COMPOSITION, {"keyCode": 229})  # Safari's Enter just after the composition
    page.wait_for_timeout(400)
    assert page.input_value("#input") == "我想問"
    assert page.locator(".msg").count() == 0 and engine.requests == []
    page.screenshot(path=str(SCREENSHOTS / "web-ime.png"))
    page.keyboard.press("End")
    page.keyboard.press("Enter")  # a plain Enter still sends
    page.wait_for_function("document.querySelector('.msg.assistant') && "
                           "document.querySelector('.msg.assistant').textContent === '收到：我想問'")
    w.check_clean()


MARKDOWN_REPLY = ("Here is **bold** and `code`:\n\n- first item\n- second item\n\n"
                  "<script>window.pwned = 'script'</script><img src=x onerror=\"window.pwned = 'img'\">\n\n"
                  "[a link](https://example.org/) <a href=\"javascript:window.pwned='href'\">js link</a>")


def test_reply_markdown_is_rendered_and_sanitised(live_server, browser):
    url, engine = live_server
    engine.add(MARKDOWN_REPLY)
    w = Watched(browser, url)
    page = w.page
    page.wait_for_function(WAIT_MODEL)
    page.fill("#input", "show me markdown")
    page.keyboard.press("Enter")
    page.wait_for_selector(".turn.assistant button.copy")  # the reply is complete
    reply = page.locator(".msg.assistant")
    assert reply.locator("strong").text_content() == "bold"
    assert reply.locator("code").text_content() == "code"
    assert reply.locator("li").all_text_contents() == ["first item", "second item"]
    assert reply.locator("script, img, [onerror]").count() == 0
    link = reply.locator("a", has_text="a link")
    assert link.get_attribute("href") == "https://example.org/" and link.get_attribute("rel") == "noopener noreferrer"
    assert (reply.locator("a", has_text="js link").get_attribute("href") or "") == ""  # javascript: removed
    page.click("text=js link")
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    page.screenshot(path=str(SCREENSHOTS / "web-markdown.png"))
    w.check_clean()
    assert sent_messages(engine) == [("user", "show me markdown")]


def test_copy_button_copies_the_reply_source(live_server, browser):
    url, engine = live_server
    engine.add("**Copy** me")
    w = Watched(browser, url, permissions=["clipboard-read", "clipboard-write"])
    page = w.page
    page.wait_for_function(WAIT_MODEL)
    page.fill("#input", "hi")
    page.keyboard.press("Enter")
    page.click(".turn.assistant button.copy")
    page.wait_for_function("document.querySelector('.turn.assistant button.copy').textContent.startsWith('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == "**Copy** me"  # the markdown, as the model wrote it
    w.check_clean()


LONG_REPLY = " ".join(f"word{i}" for i in range(200))


def test_stop_aborts_a_slow_stream_and_keeps_the_partial_reply(slow_server, browser):
    url, engine = slow_server
    engine.add(LONG_REPLY)
    w = Watched(browser, url)
    page = w.page
    page.wait_for_function(WAIT_MODEL)
    page.fill("#input", "tell me a long story")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.msg.assistant').textContent.startsWith('word0 word1')")
    assert page.is_visible("#stop") and page.is_hidden("#send")
    page.screenshot(path=str(SCREENSHOTS / "web-streaming.png"))
    page.click("#stop")
    page.wait_for_selector(".turn.assistant .stopped")
    partial = page.text_content(".msg.assistant")
    page.wait_for_timeout(1000)  # four more chunks' worth: nothing more arrives
    assert page.text_content(".msg.assistant") == partial and len(partial) < len(LONG_REPLY)
    assert page.is_visible("#send") and page.is_hidden("#stop")
    page.screenshot(path=str(SCREENSHOTS / "web-stop.png"))
    page.fill("#input", "next")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.msg.assistant').length === 2 && "
                           "document.querySelectorAll('.msg.assistant')[1].textContent === '收到：next'")
    # the partial reply is the history's answer to the first question
    assert sent_messages(engine) == [("user", "tell me a long story"), ("assistant", partial), ("user", "next")]
    w.check_clean()


def test_new_during_a_stream_aborts_it_and_keeps_it_out_of_the_new_history(slow_server, browser):
    url, engine = slow_server
    engine.add(LONG_REPLY)
    w = Watched(browser, url)
    page = w.page
    page.wait_for_function(WAIT_MODEL)
    page.fill("#input", "first conversation")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.msg.assistant').textContent.startsWith('word0')")
    page.click("#reset")
    assert page.locator("#log > *").count() == 0
    assert page.is_visible("#send") and page.is_hidden("#stop")
    page.wait_for_timeout(1000)
    assert page.locator("#log > *").count() == 0  # the aborted reply does not come back
    page.fill("#input", "second")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.msg.assistant') && "
                           "document.querySelector('.msg.assistant').textContent === '收到：second'")
    assert page.locator(".msg").count() == 2
    assert sent_messages(engine) == [("user", "second")]
    w.check_clean()


def test_page_asks_for_an_api_key_and_then_works(settings, browser):
    settings.api_keys = ["sekret-key-1"]
    engine = FakeEngine(default=echo, model="fake-model")
    with serving(settings, engine) as url:
        w = Watched(browser, url)
        page = w.page
        page.wait_for_selector("#key-form", state="visible")
        assert "needs an API key" in page.text_content("#key-note")
        page.screenshot(path=str(SCREENSHOTS / "web-key-asked.png"))
        page.fill("#api-key", "wrong")
        page.click("#key-save")
        page.wait_for_function("document.getElementById('key-note').textContent.includes('refused')")
        assert page.is_visible("#key-form")
        page.fill("#api-key", "sekret-key-1")
        page.keyboard.press("Enter")
        page.wait_for_function(WAIT_MODEL)
        assert page.is_hidden("#key-form")
        page.wait_for_selector("#apps [data-app-id='echo']")  # the apps menu reloaded with the key too
        page.fill("#input", "有鑰匙喇")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('.msg.assistant') && "
                               "document.querySelector('.msg.assistant').textContent === '收到：有鑰匙喇'")
        assert page.evaluate("localStorage.getItem('hkllm.apiKey')") == "sekret-key-1"
        page.screenshot(path=str(SCREENSHOTS / "web-key-ok.png"))
        page.reload()  # the key is remembered by this browser
        page.wait_for_function(WAIT_MODEL)
        assert page.is_hidden("#key-form")
        w.check_clean()
        w.context.close()
