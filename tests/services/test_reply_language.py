"""The reply-language workflow (``hkllm.services.reply_language``) and the chat service's use of it, with
FakeEngine's scripted replies: when it regenerates, when it localizes, the order of its steps, what the
chat log keeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hkllm.embedded import EmbeddedEngine
from hkllm.engine import ChatMessage, ChatRequest, FakeEngine, OpenAICompatibleEngine
from hkllm.lang import detect
from hkllm.services.chat import ChatService
from hkllm.services.reply_language import (
    SHIPPED,
    STRATEGIES,
    ReplyStrategy,
    exemplar_messages,
    fix_stream_script,
    generate_reply,
    prompts,
    regeneration_request,
    resolve_localize,
    strategy_for,
    system_instruction,
    with_language_instruction,
)
from hkllm.settings import Settings
from hkllm.store.db import Database
from hkllm.store.models import ChatLog

CANTONESE_Q = "佢哋幾時嚟呀？"
SWC_1 = "他們明天會來，這是確定的。"
SWC_2 = "他們明天會來，目的是了解情況。"
YUE = "佢哋聽日會嚟㗎。"


def request(*texts: str, system: str | None = None) -> ChatRequest:
    messages = [ChatMessage(role="system", content=system)] if system else []
    for i, t in enumerate(texts):
        messages.append(ChatMessage(role="user" if i % 2 == 0 else "assistant", content=t))
    return ChatRequest(messages=messages, max_tokens=50)


# -- prompts, instructions, exemplars ----------------------------------------------------------------------

@pytest.mark.parametrize("target", ["yue", "zh-Hant", "zh-Hans", "en"])
def test_instruction_is_written_in_the_target_language(target: str) -> None:
    for strong in (False, True):
        assert detect(system_instruction(target, strong=strong)).label == target


def test_prompts_file_is_versioned_and_exemplars_are_cantonese() -> None:
    assert prompts()["version"] == "reply_language.v1"
    turns = exemplar_messages("yue")
    assert len(turns) >= 4 and [m.role for m in turns[:2]] == ["user", "assistant"]
    assert all(detect(m.text()).label == "yue" for m in turns if m.role == "assistant")
    assert all(detect(m.text()).label == "yue" or detect(m.text()).neutral for m in turns)
    assert exemplar_messages("en") == []  # no exemplars for other targets


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


def test_exemplars_come_after_the_instruction_and_before_the_conversation() -> None:
    out = with_language_instruction(request(CANTONESE_Q, system="You are helpful."), "yue", exemplars=True)
    turns = exemplar_messages("yue")
    assert out.messages[0].text() == "You are helpful."
    assert out.messages[1].text() == system_instruction("yue")
    assert [m.text() for m in out.messages[2 : 2 + len(turns)]] == [m.text() for m in turns]
    assert out.messages[-1].text() == CANTONESE_Q and len(out.messages) == 3 + len(turns)


def test_regeneration_request() -> None:
    req = request("Tell me about Hong Kong.")
    retry = regeneration_request(req, "en", "   ")
    assert [m.role for m in retry.messages] == ["system", "user"] and "Important" in retry.messages[0].text()
    retry = regeneration_request(req, "en", "香港是一個城市。")
    assert [m.role for m in retry.messages] == ["user", "assistant", "system", "user"]
    assert retry.messages[-1].text().startswith("Rewrite your answer")
    assert len(req.messages) == 1  # the caller's request is not mutated


# -- strategies and the localize setting --------------------------------------------------------------------

def test_strategy_names_and_the_shipped_one() -> None:
    assert set(STRATEGIES) == {"instruct", "instruct+localize", "fewshot", "fewshot+localize",
                               "instruct+regenerate", "instruct+regenerate+localize", "fewshot+regenerate",
                               "fewshot+regenerate+localize"}
    assert all(STRATEGIES[name].name == name for name in STRATEGIES)
    assert SHIPPED in STRATEGIES
    on, off = strategy_for(True), strategy_for(False)
    assert on.localize and not off.localize
    assert off.regenerate_swc  # localize off: a Cantonese reply left in SWC is asked for again
    assert off.exemplars == on.exemplars == STRATEGIES[SHIPPED].exemplars
    assert strategy_for(True, "instruct").name == "instruct+localize"
    assert strategy_for(False, "instruct+regenerate+localize").name == "instruct+regenerate"
    with pytest.raises(ValueError, match="swc_remedies"):
        ReplyStrategy(swc_remedies=("translate",))


async def test_resolve_localize(settings: Settings) -> None:
    embedded = EmbeddedEngine(settings)
    remote = OpenAICompatibleEngine("http://gpu-box:8001/v1")
    try:
        assert resolve_localize("auto", embedded) is True
        assert resolve_localize("auto", remote) is False
        assert resolve_localize("auto", FakeEngine()) is False
        assert resolve_localize("on", remote) is True and resolve_localize(" OFF ", embedded) is False
        with pytest.raises(ValueError, match="reply_localize"):
            resolve_localize("sometimes", remote)
    finally:
        await embedded.aclose()
        await remote.aclose()


def test_reply_localize_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().reply_localize == "auto"
    monkeypatch.setenv("HKLLM_REPLY_LOCALIZE", "off")
    assert Settings().reply_localize == "off"
    monkeypatch.setenv("HKLLM_REPLY_LOCALIZE", "maybe")
    with pytest.raises(ValueError):
        Settings()


# -- the workflow ------------------------------------------------------------------------------------------

INSTRUCT_REGEN_LOCALIZE = STRATEGIES["instruct+regenerate+localize"]


async def test_right_first_time_is_one_generation() -> None:
    engine = FakeEngine([YUE])
    result = await generate_reply(engine, request(CANTONESE_Q), strategy=INSTRUCT_REGEN_LOCALIZE)
    assert (result.text, result.raw_text, result.target, result.ok) == (YUE, YUE, "yue", True)
    assert not (result.regenerated or result.converted or result.localized)
    assert len(engine.requests) == 1 and set(result.timings_ms) == {"generate", "fix"}
    sent = engine.requests[0].messages
    assert sent[0].role == "system" and "廣東話" in sent[0].text() and sent[-1].text() == CANTONESE_Q


async def test_wrong_script_is_converted_without_regeneration() -> None:
    engine = FakeEngine(["根据第35E条，业主须依从。"])
    result = await generate_reply(engine, request("根據第35E條，業主要做甚麼？"), strategy=INSTRUCT_REGEN_LOCALIZE)
    assert result.text == "根據第35E條，業主須依從。" and result.raw_text == "根据第35E条，业主须依从。"
    assert result.converted and not result.regenerated and result.ok and result.detected == "zh-Hant"
    assert len(engine.requests) == 1


async def test_regenerate_then_localize_when_still_swc() -> None:
    engine = FakeEngine([SWC_1, SWC_2])
    result = await generate_reply(engine, request(CANTONESE_Q), strategy=INSTRUCT_REGEN_LOCALIZE)
    assert len(engine.requests) == 2 and set(result.timings_ms) == {"generate", "regenerate", "fix"}
    second = engine.requests[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "system", "user"]
    assert second[2].text() == SWC_1 and "重要" in second[3].text()
    assert result.regenerated and result.localized and result.ok and result.detected == "yue"
    assert result.text == "佢哋聽日會嚟，目的係了解情況。"  # the later of two equal replies; 目的 / 了解 kept
    assert result.raw_text == SWC_2 and result.rejected_texts == [SWC_1]
    assert result.completion["choices"][0]["message"]["content"] == SWC_2
    assert result.usage["completion_tokens"] == sum(c["usage"]["completion_tokens"] for c in result.completions)


async def test_regeneration_that_works_is_not_localized() -> None:
    engine = FakeEngine([SWC_1, YUE])
    result = await generate_reply(engine, request(CANTONESE_Q), strategy=INSTRUCT_REGEN_LOCALIZE)
    assert result.text == YUE and result.regenerated and not result.localized and result.ok


async def test_shipped_strategy_localizes_without_a_second_generation() -> None:
    engine = FakeEngine([SWC_2])
    result = await generate_reply(engine, request(CANTONESE_Q), strategy=strategy_for(True))
    assert len(engine.requests) == 1  # no regeneration for a Cantonese target: localizing is ms, not seconds
    assert result.localized and result.ok and not result.regenerated
    assert result.text == "佢哋聽日會嚟，目的係了解情況。" and result.raw_text == SWC_2
    sent = [m.text() for m in engine.requests[0].messages]
    expected_turns = len(exemplar_messages("yue")) if STRATEGIES[SHIPPED].exemplars else 0
    assert len(sent) == 2 + expected_turns and sent[0] == system_instruction("yue") and sent[-1] == CANTONESE_Q


async def test_localize_off_regenerates_and_leaves_swc_flagged() -> None:
    engine = FakeEngine([SWC_1, SWC_2])
    result = await generate_reply(engine, request(CANTONESE_Q), strategy=strategy_for(False))
    assert len(engine.requests) == 2 and result.regenerated
    assert not result.localized and not result.ok and result.text == SWC_2  # the model's words, flagged


@pytest.mark.parametrize("name", ["instruct", "fewshot"])
async def test_without_regenerate_or_localize_the_first_reply_is_final(name: str) -> None:
    engine = FakeEngine([SWC_1])
    result = await generate_reply(engine, request(CANTONESE_Q), strategy=STRATEGIES[name])
    assert len(engine.requests) == 1 and result.text == SWC_1 and not result.ok
    with_exemplars = any(m.text() == exemplar_messages("yue")[0].text() for m in engine.requests[0].messages)
    assert with_exemplars == (name == "fewshot")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
async def test_every_strategy_regenerates_a_reply_in_another_language(name: str) -> None:
    """Localizing only fixes SWC for a Cantonese target; English for a Chinese target (or the reverse)
    is generated once more whatever the strategy."""
    engine = FakeEngine(["香港是一個國際城市。", "Hong Kong is an international city."])
    result = await generate_reply(engine, request("Tell me about Hong Kong."), strategy=STRATEGIES[name])
    assert result.text == "Hong Kong is an international city." and result.ok and result.regenerated
    assert not any(m.role == "assistant" for m in engine.requests[0].messages)  # no Cantonese exemplars
    engine = FakeEngine(["The MPF is a retirement scheme.", "強積金係退休計劃嚟㗎。"])
    result = await generate_reply(engine, request("強積金係咩嚟㗎？"), strategy=STRATEGIES[name])
    assert result.regenerated and result.text == "強積金係退休計劃嚟㗎。" and not result.localized


async def test_override_and_final_completion() -> None:
    engine = FakeEngine(["他們明天會來。"])
    result = await generate_reply(engine, request(CANTONESE_Q), "zh-Hant", strategy=strategy_for(True))
    assert result.ok and result.target == "zh-Hant" and len(engine.requests) == 1 and not result.localized
    final = result.final_completion()
    assert final["choices"][0]["message"]["content"] == "他們明天會來。" and final["usage"] == result.usage


async def test_fix_stream_script_rewrites_chunks_and_flushes() -> None:
    engine = FakeEngine(["根据第35E条，业主须依从。"])
    chunks: list[dict[str, Any]] = [c async for c in fix_stream_script(engine.stream(request("問")), "zh-Hant")]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert text == "根據第35E條，業主須依從。"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in chunks[-1]

    async def no_finish() -> Any:
        yield {"id": "x", "choices": [{"index": 0, "delta": {"content": "头发"}, "finish_reason": None}]}

    chunks = [c async for c in fix_stream_script(no_finish(), "zh-Hant")]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "頭髮"


# -- the chat service and its log ----------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'chat.db'}")
    yield database
    database.engine.dispose()


def rows(db: Database) -> list[ChatLog]:
    with db.session() as session:
        return list(session.scalars(select(ChatLog).order_by(ChatLog.id)))


async def stream_text(service: ChatService, req: ChatRequest) -> str:
    parts = []
    async for chunk in service.stream(req):
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


@pytest.mark.parametrize("localize", [True, False])
async def test_chat_log_keeps_raw_and_final_text(db: Database, localize: bool) -> None:
    engine = FakeEngine([SWC_2, SWC_2], model="fake-model")
    service = ChatService(engine, db, localize=localize)
    completion = await service.complete(request(CANTONESE_Q))
    final = completion["choices"][0]["message"]["content"]
    (row,) = rows(db)
    assert row.raw_response == SWC_2 and row.response == final
    if localize:
        assert final == "佢哋聽日會嚟，目的係了解情況。" and completion["hkllm"]["localized"] is True
        assert len(engine.requests) == 1
    else:
        assert final == SWC_2 and completion["hkllm"]["localized"] is False
        assert completion["hkllm"]["regenerated"] is True and row.meta["rejected"] == [SWC_2]
    assert row.meta["strategy"] == service.strategy.name and "generate" in row.meta["timings_ms"]
    assert row.meta["prompts"] == "reply_language.v1"
    assert "strategy" not in completion["hkllm"]  # what the caller sees is unchanged


async def test_chat_log_of_a_stream_keeps_the_raw_deltas(db: Database) -> None:
    engine = FakeEngine(["强积金是退休计划，他们都要供款。"], model="fake-model")
    text = await stream_text(ChatService(engine, db, localize=True), request("我想問下強積金係點計㗎？"))
    (row,) = rows(db)
    assert text == "強積金係退休計劃，佢哋都要供款。" == row.response
    assert row.raw_response == "强积金是退休计划，他们都要供款。"
    assert row.meta["localized"] is True


async def test_stream_with_localize_off_converts_script_only(db: Database) -> None:
    engine = FakeEngine(["强积金是退休计划，他们都要供款。"], model="fake-model")
    text = await stream_text(ChatService(engine, db, localize=False), request("我想問下強積金係點計㗎？"))
    (row,) = rows(db)
    assert text == "強積金是退休計劃，他們都要供款。" == row.response
    assert row.raw_response == "强积金是退休计划，他们都要供款。" and row.meta["localized"] is False


async def test_policy_off_logs_the_same_text_twice(db: Database) -> None:
    engine = FakeEngine(["简体回复"], model="fake-model")
    service = ChatService(engine, db, reply_lang="off")
    await service.complete(request(CANTONESE_Q))
    (row,) = rows(db)
    assert row.response == row.raw_response == "简体回复" and [m.role for m in engine.requests[0].messages] == ["user"]


def test_a_strategy_can_be_given_to_the_service(db: Database) -> None:
    strategy = ReplyStrategy(exemplars=False, swc_remedies=("localize",))
    assert ChatService(FakeEngine(), db, strategy=strategy).strategy is strategy


class NoUsageStreamEngine(FakeEngine):
    """Streams like llama-cpp-python's server: no usage in the stream."""

    async def stream(self, request: ChatRequest) -> Any:
        async for chunk in super().stream(request):
            chunk.pop("usage", None)
            yield chunk


@pytest.mark.parametrize("reply_lang", ["off", "auto"])
async def test_streamed_completion_tokens_count_the_engine_chunks_not_released_clauses(
        db: Database, reply_lang: str) -> None:
    reply = "强积金是退休计划，他们都要供款。"  # 16 characters: 4 engine chunks of 4, 2 clauses after the fixer
    engine = NoUsageStreamEngine([reply], model="fake-model")
    req = request("我想問下強積金係點計㗎？").model_copy(update={"reply_lang": reply_lang})
    await stream_text(ChatService(engine, db, localize=True), req)
    (row,) = rows(db)
    assert row.completion_tokens == 4


async def test_held_back_text_sends_no_empty_content_chunks(db: Database) -> None:
    """The fixer holds text until a clause ends; the chunks it held entirely are not sent as empty
    content (only the first, which carries the role, may be empty, as OpenAI's is)."""
    engine = FakeEngine(["强积金是香港的退休保障制度，雇主和雇员都要供款。"], model="fake-model")
    req = request("強積金係咩嚟㗎？").model_copy(update={"stream": True})
    contents = []
    async for chunk in ChatService(engine, db, localize=True).stream(req):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if "content" in delta:
                contents.append((delta.get("role"), delta["content"], choice.get("finish_reason")))
    assert all(text for role, text, finish in contents if role is None and finish is None), contents
    assert "".join(text for _, text, _ in contents) == "強積金係香港嘅退休保障制度，僱主同僱員都要供款。"
