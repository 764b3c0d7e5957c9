"""Reply-language policy: pure helpers and the generate/check/fix/regenerate flow, with FakeEngine."""

from __future__ import annotations

from typing import Any

import pytest

from hkllm.engine import ChatMessage, ChatRequest, FakeEngine
from hkllm.lang.policy import (
    StreamScriptFixer,
    check_reply,
    fix_script,
    fix_stream_script,
    generate_with_policy,
    normalize_target,
    prose,
    regeneration_request,
    resolve_target,
    system_instruction,
    with_language_instruction,
)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def request(*texts: str, system: str | None = None) -> ChatRequest:
    messages = [ChatMessage(role="system", content=system)] if system else []
    for i, t in enumerate(texts):
        messages.append(ChatMessage(role="user" if i % 2 == 0 else "assistant", content=t))
    return ChatRequest(messages=messages, max_tokens=50)


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
    assert resolve_target(request(*texts).messages, override) == target


def test_resolve_target_default_is_configurable() -> None:
    assert resolve_target(request("😀").messages, None, default="en") == "en"


# -- instructions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["yue", "zh-Hant", "zh-Hans", "en"])
def test_instruction_is_written_in_the_target_language(target: str) -> None:
    from hkllm.lang import detect

    for strong in (False, True):
        label = detect(system_instruction(target, strong=strong)).label
        assert label == target


def test_instruction_keeps_callers_messages() -> None:
    req = request("你好", "你好！", "請介紹香港", system="You are helpful.")
    out = with_language_instruction(req, "zh-Hant")
    assert [m.role for m in out.messages] == ["system", "system", "user", "assistant", "user"]
    assert out.messages[0].content == "You are helpful."
    assert [m.content for m in out.messages if m.role != "system"] == ["你好", "你好！", "請介紹香港"]
    assert req.messages[0].content == "You are helpful." and len(req.messages) == 4  # not mutated
    strong = with_language_instruction(req, "yue", strong=True)
    assert [m.role for m in strong.messages] == ["system", "user", "assistant", "system", "user"]
    assert strong.max_tokens == 50


def test_regeneration_request_without_previous_reply_uses_strong_instruction() -> None:
    req = request("Tell me about Hong Kong.")
    retry = regeneration_request(req, "en", "   ")
    assert [m.role for m in retry.messages] == ["system", "user"] and "Important" in retry.messages[0].text()
    retry = regeneration_request(req, "en", "香港是一個城市。")
    assert [m.content for m in retry.messages][-1].startswith("Rewrite your answer")
    assert len(req.messages) == 1  # the caller's request is not mutated


def test_instruction_is_prepended_without_system_message() -> None:
    out = with_language_instruction(request("hi"), "en")
    assert out.messages[0].role == "system" and out.messages[1].content == "hi"


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


# -- the flow ----------------------------------------------------------------------------------------------

async def test_right_first_time() -> None:
    engine = FakeEngine(["佢哋聽日會嚟㗎。"])
    result = await generate_with_policy(engine, request("佢哋幾時嚟呀？"))
    assert (result.text, result.target, result.ok, result.regenerated, result.converted) == (
        "佢哋聽日會嚟㗎。", "yue", True, False, False)
    assert len(engine.requests) == 1
    sent = engine.requests[0].messages
    assert sent[0].role == "system" and "廣東話" in sent[0].text() and sent[-1].text() == "佢哋幾時嚟呀？"
    assert result.usage["completion_tokens"] >= 1


async def test_wrong_script_is_converted_without_regeneration() -> None:
    engine = FakeEngine(["根据第35E条，业主须依从。"])
    result = await generate_with_policy(engine, request("根據第35E條，業主要做甚麼？"))
    assert result.text == "根據第35E條，業主須依從。"
    assert result.converted and not result.regenerated and result.ok
    assert result.detected == "zh-Hant"
    assert len(engine.requests) == 1


async def test_wrong_language_regenerates_once_with_stronger_instruction() -> None:
    engine = FakeEngine(["他們明天會來。", "佢哋聽日會嚟。"])
    result = await generate_with_policy(engine, request("佢哋幾時嚟呀？"))
    assert result.text == "佢哋聽日會嚟。" and result.regenerated and result.ok
    assert len(engine.requests) == 2
    second = engine.requests[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "system", "user"]
    assert second[0].text() == engine.requests[0].messages[0].text()  # the normal instruction is kept
    assert second[1].text() == "佢哋幾時嚟呀？" and second[2].text() == "他們明天會來。"
    assert "重要" in second[3].text() and "廣東話" in second[4].text()
    assert result.completion is result.completions[1]
    assert result.usage["completion_tokens"] == sum(c["usage"]["completion_tokens"] for c in result.completions)


async def test_still_wrong_after_regeneration_returns_best_with_flag() -> None:
    engine = FakeEngine(["他們明天會來，這是確定的。", "佢哋明天會來，這是確定的。"])
    result = await generate_with_policy(engine, request("佢哋幾時嚟呀？"), default="zh-Hant", localize=False)
    assert len(engine.requests) == 2
    assert not result.ok and result.regenerated and not result.localized
    assert result.text == "佢哋明天會來，這是確定的。"  # the one with more Cantonese in it


async def test_cantonese_still_swc_after_regeneration_is_localized_word_by_word() -> None:
    engine = FakeEngine(["他們明天會來，這是確定的。", "他們明天會來，目的是了解情況。"])
    result = await generate_with_policy(engine, request("佢哋幾時嚟呀？"))
    assert len(engine.requests) == 2
    assert result.regenerated and result.localized and result.ok and result.detected == "yue"
    assert result.text == "佢哋聽日會嚟，目的係了解情況。"  # the later of two equal replies; 目的 / 了解 kept
    assert result.completion["choices"][0]["message"]["content"] == "他們明天會來，目的是了解情況。"


async def test_localizing_is_only_for_cantonese_targets() -> None:
    engine = FakeEngine(["Tomorrow.", "Tomorrow they come."])
    result = await generate_with_policy(engine, request("佢哋幾時嚟呀？"))
    assert not result.localized and not result.ok  # English is not rewritten into Cantonese
    engine = FakeEngine(["他們明天會來。"])
    result = await generate_with_policy(engine, request("他們何時來？"))
    assert not result.localized and result.ok and result.text == "他們明天會來。"


async def test_regeneration_can_be_disabled_and_override_is_used() -> None:
    engine = FakeEngine(["他們明天會來。"])
    result = await generate_with_policy(engine, request("佢哋幾時嚟呀？"), "zh-Hant", regenerate=False)
    assert result.ok and result.target == "zh-Hant" and len(engine.requests) == 1


async def test_english_target_wrong_language() -> None:
    engine = FakeEngine(["香港是一個國際城市。", "Hong Kong is an international city."])
    result = await generate_with_policy(engine, request("Tell me about Hong Kong."))
    assert result.text == "Hong Kong is an international city." and result.ok and result.regenerated


async def test_final_completion_carries_text_and_summed_usage() -> None:
    engine = FakeEngine(["根据"])
    result = await generate_with_policy(engine, request("根據甚麼？"))
    final = result.final_completion()
    assert final["choices"][0]["message"]["content"] == "根據"
    assert final["usage"] == result.usage


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


async def test_fix_stream_script_rewrites_chunks() -> None:
    engine = FakeEngine(["根据第35E条，业主须依从。"])
    chunks: list[dict[str, Any]] = [c async for c in fix_stream_script(engine.stream(request("問")), "zh-Hant")]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert text == "根據第35E條，業主須依從。"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in chunks[-1]


async def test_fix_stream_script_without_finish_chunk_flushes() -> None:
    async def stream() -> Any:
        yield {"id": "x", "choices": [{"index": 0, "delta": {"content": "头发"}, "finish_reason": None}]}

    chunks = [c async for c in fix_stream_script(stream(), "zh-Hant")]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "頭髮"
