"""Pure reply checks and fixes (``hkllm.lang.reply``): target resolution, check, script fix, Cantonese
localizing, the streaming fixer. Tables of Hong Kong cases; the model workflow is tested in
tests/services/test_reply_language.py."""

from __future__ import annotations

import pytest

from hkllm.lang.reply import (
    StreamScriptFixer,
    check_reply,
    fix_script,
    localize_reply,
    normalize_target,
    prose,
    resolve_target,
)

# -- target resolution ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "target"), [
    (None, None), ("auto", None), ("", None), ("yue", "yue"), ("Cantonese", "yue"), ("zh-HK", "zh-Hant"),
    ("zh_TW", "zh-Hant"), ("zh-Hant", "zh-Hant"), ("zh-CN", "zh-Hans"), ("zh-Hans", "zh-Hans"), ("EN", "en"),
    ("en-GB", "en"),
])
def test_normalize_target(value: str | None, target: str | None) -> None:
    assert normalize_target(value) == target


def test_normalize_target_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown reply language"):
        normalize_target("fr")


@pytest.mark.parametrize(("texts", "override", "target"), [
    (["你食咗飯未呀？"], None, "yue"),
    (["你吃飯了嗎？"], None, "zh-Hant"),
    (["你吃饭了吗？"], None, "zh-Hans"),
    (["How are you?"], None, "en"),
    (["你食咗飯未呀？"], "en", "en"),  # override wins
    (["How are you?"], "yue", "yue"),
    (["佢哋幾點到呀？", "三點。", "多謝"], None, "yue"),  # unmarked reply follows the conversation
    (["佢哋幾點到呀？", "三點。", "OK"], None, "yue"),
    (["What time is it?", "3pm.", "👍"], None, "en"),  # emoji: nothing to judge
    (["😀"], None, "zh-Hant"),  # nothing at all: the default
    (["多謝"], None, "zh-Hant"),
])
def test_resolve_target(texts: list[str], override: str | None, target: str) -> None:
    """``texts`` alternate user / assistant turns; only the user's are given to ``resolve_target``."""
    assert resolve_target(texts[::2], override) == target


def test_resolve_target_default_is_configurable() -> None:
    assert resolve_target(["😀"], None, default="en") == "en"
    assert resolve_target([], None) == "zh-Hant"


# -- checking and fixing replies ------------------------------------------------------------------------------

@pytest.mark.parametrize(("reply", "target", "language_ok", "script_ok"), [
    ("佢哋聽日會嚟㗎。", "yue", True, True),
    ("他們明天會來。", "yue", False, True),
    ("佢哋聽日会嚟㗎。", "yue", True, False),  # 会 is Simplified
    ("他們明天會來。", "zh-Hant", True, True),
    ("他们明天会来。", "zh-Hant", True, False),
    ("他们明天会来。", "zh-Hans", True, True),
    ("他們明天會來。", "zh-Hans", True, False),
    ("They will come tomorrow.", "en", True, True),
    ("他們明天會來。", "en", False, True),
    ("They will come tomorrow.", "zh-Hant", False, True),
    ("香港", "yue", True, True),  # unmarked Chinese passes
    ("", "zh-Hant", True, True),
    ("```python\nprint('hello world, this is English code')\n```\n呢段code會印出hello world㗎。", "yue", True, True),
])
def test_check_reply(reply: str, target: str, language_ok: bool, script_ok: bool) -> None:
    verdict = check_reply(reply, target)
    assert (verdict.language_ok, verdict.script_ok) == (language_ok, script_ok)
    assert verdict.ok == (language_ok and script_ok)


@pytest.mark.parametrize(("reply", "target", "fixed"), [
    ("佢哋聽日会嚟㗎，走晒喇", "yue", "佢哋聽日會嚟㗎，走晒喇"),
    ("根据第35E条，为依從", "zh-Hant", "根據第35E條，為依從"),
    ("他們明天會來", "zh-Hans", "他们明天会来"),
    ("They said 会", "en", "They said 会"),
    ("这是代码：\n```\nx = '简体'\n```\n说明", "zh-Hant", "這是代碼：\n```\nx = '简体'\n```\n説明"),
])
def test_fix_script(reply: str, target: str, fixed: str) -> None:
    assert fix_script(reply, target) == fixed


def test_prose_drops_code_and_urls() -> None:
    assert "print" not in prose("睇下：```py\nprint(1)\n``` 同 `x=1` https://example.com/a")


@pytest.mark.parametrize(("reply", "target", "localized"), [
    ("他們明天會來，目的是了解情況。", "yue", "佢哋聽日會嚟，目的係了解情況。"),  # 目的 / 了解 kept
    ("強積金是退休保障計劃，他們都要供款。", "yue", "強積金係退休保障計劃，佢哋都要供款。"),
    ("不，你不需要預約，他們會在門口等你。", "yue", "唔係，你唔需要預約，佢哋會喺門口等你。"),  # 不 answering "No," is 唔係, not 唔
    ("你也可以的。", "yue", "你都可以㗎。"),  # affirmative clause-final 的 after a modal: 㗎, not 嘅
    ("佢哋聽日會嚟㗎。", "yue", "佢哋聽日會嚟㗎。"),  # already Cantonese: unchanged
    ("香港", "yue", "香港"),  # unmarked: nothing to rewrite
    ("他們明天會來。", "zh-Hant", "他們明天會來。"),  # only for Cantonese targets
    ("They are coming.", "yue", "They are coming."),  # English is not rewritten
    ("他們的程式是這樣：\n```\nprint('的是')\n```\n他們不改。", "yue",
     "佢哋嘅程式係噉樣：\n```\nprint('的是')\n```\n佢哋唔改。"),  # code untouched
])
def test_localize_reply(reply: str, target: str, localized: str) -> None:
    assert localize_reply(reply, target) == localized


def test_verdict_says_when_localizing_applies() -> None:
    assert check_reply("他們明天會來。", "yue").swc_for_cantonese
    assert not check_reply("佢哋聽日會嚟。", "yue").swc_for_cantonese
    assert not check_reply("他們明天會來。", "zh-Hant").swc_for_cantonese
    assert not check_reply("They come.", "yue").swc_for_cantonese


# -- streaming -----------------------------------------------------------------------------------------------

def feed_all(fixer: StreamScriptFixer, pieces: list[str]) -> tuple[str, list[str]]:
    outs = [fixer.feed(p) for p in pieces]
    outs.append(fixer.flush())
    return "".join(outs), outs


def test_stream_fixer_converts_and_holds_back_to_boundaries() -> None:
    text, outs = feed_all(StreamScriptFixer("zh-Hant"), ["头", "发干", "净，我们", "在吃饭。"])
    assert text == "頭髮乾淨，我們在吃飯。"
    assert outs[0] == "" and outs[1] == ""  # held until the comma: 头发 is one phrase for OpenCC


def test_stream_fixer_passes_code_and_english() -> None:
    text, _ = feed_all(StreamScriptFixer("zh-Hant"), ["这样：\n```\nx = '简", "体'\n```\n说明"])
    assert text == "這樣：\n```\nx = '简体'\n```\n説明"
    text, outs = feed_all(StreamScriptFixer("en"), ["这", "样"])
    assert outs[:2] == ["这", "样"]


def test_stream_fixer_releases_long_runs() -> None:
    fixer = StreamScriptFixer("zh-Hans", max_hold=10)
    out = fixer.feed("頭" * 30)
    assert len(out) >= 20 and set(out) == {"头"}
    assert out + fixer.flush() == "头" * 30


def test_stream_fixer_localizes_swc_clauses_for_cantonese() -> None:
    fixer = StreamScriptFixer("yue")
    text, _ = feed_all(fixer, ["我們", "在家裏", "等了", "很久，", "佢哋", "就嚟㗎喇。", "```\nprint('的')\n```"])
    assert text == "我哋喺屋企等咗好久，佢哋就嚟㗎喇。```\nprint('的')\n```"  # code untouched
    assert fixer.localized
    plain = StreamScriptFixer("yue")
    assert feed_all(plain, ["佢哋聽日", "會嚟。"])[0] == "佢哋聽日會嚟。" and not plain.localized
    hant = StreamScriptFixer("zh-Hant")
    assert feed_all(hant, ["他們在家。"])[0] == "他們在家。" and not hant.localized  # only for Cantonese


def test_stream_fixer_keeps_the_raw_text_and_can_leave_swc_alone() -> None:
    fixer = StreamScriptFixer("yue", localize=False)
    pieces = ["他们", "在家里", "等了很久。"]
    text, _ = feed_all(fixer, pieces)
    assert text == "他們在家裏等了很久。"  # script converted, words not rewritten
    assert fixer.raw == "他们在家里等了很久。" and not fixer.localized
    localizing = StreamScriptFixer("yue")
    assert feed_all(localizing, pieces)[0] == "佢哋喺屋企等咗好久。"
    assert localizing.raw == "他们在家里等了很久。" and localizing.localized
    passthrough = StreamScriptFixer(None)
    assert feed_all(passthrough, ["a", "b"])[0] == "ab" and passthrough.raw == "ab"
