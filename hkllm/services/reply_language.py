"""The reply-language workflow: instruct, (few-shot exemplars), generate, check, (regenerate), fix, (localize).

Reached only through the ``Engine`` protocol; the text checks and fixes are the pure functions of
``hkllm.lang.reply``. A ``ReplyStrategy`` says which optional steps run:

1. A system instruction in the target language is added to the caller's messages (theirs are kept). With
   ``exemplars``, a few short conversation turns in the target language follow it (Cantonese only).
2. One generation; the reply is checked (``check_reply``).
3. Wrong language: one more generation that gives the model its wrong reply, a stronger instruction and a
   request to rewrite it; the better of the two replies is kept. For a Cantonese target whose reply is
   Standard Written Chinese only when the strategy's ``swc_remedies`` include ``regenerate``.
4. Wrong script: converted (OpenCC).
5. ``localize`` in ``swc_remedies`` and Cantonese asked for but the reply still reads as Standard Written
   Chinese: rewritten word by word into Cantonese (``localize_reply``: 的→嘅, 是→係, 不→唔 ...), flagged
   ``localized``.

Which strategy ships was chosen by measured quality per second of latency (``bench/reply_fidelity.py``,
``bench/RESULTS.md``). ``HKLLM_REPLY_LOCALIZE`` (auto | on | off; auto = on for the embedded model only,
see ``resolve_localize``) decides step 5; ``strategy_for`` gives the strategy for that choice.
The instruction texts and exemplars are data: ``prompts/reply_language.v1.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from hkllm.embedded import EmbeddedEngine
from hkllm.engine import ChatMessage, ChatRequest, Engine, completion_text
from hkllm.lang.reply import (
    StreamScriptFixer,
    check_reply,
    fix_script,
    localize_reply,
    normalize_target,
    resolve_target,
)

PROMPTS_FILE = Path(__file__).with_name("prompts") / "reply_language.v1.json"
LOCALIZE_CHOICES = ("auto", "on", "off")


@cache
def prompts() -> dict[str, Any]:
    """The workflow's texts (instruction, strong, rewrite, exemplars), by target."""
    data: dict[str, Any] = json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))
    return data


def prompts_version() -> str:
    return str(prompts()["version"])


def system_instruction(target: str, *, strong: bool = False) -> str:
    """The language instruction, written in the target language."""
    key = normalize_target(target) or "zh-Hant"
    return str(prompts()["strong" if strong else "instruction"][key])


def exemplar_messages(target: str) -> list[ChatMessage]:
    """Few-shot turns (user, assistant, ...) in the target language; empty when there are none for it."""
    key = normalize_target(target) or "zh-Hant"
    out: list[ChatMessage] = []
    for question, answer in prompts().get("exemplars", {}).get(key, []):
        out += [ChatMessage(role="user", content=question), ChatMessage(role="assistant", content=answer)]
    return out


def with_language_instruction(request: ChatRequest, target: str, *, strong: bool = False,
                              exemplars: bool = False) -> ChatRequest:
    """A copy of ``request`` with the instruction added as a system message; the caller's messages are kept.

    Normal: after the caller's leading system messages, followed by the exemplar turns when asked for.
    Strong: right before the last user message, where a small model heeds it most.
    """
    note = ChatMessage(role="system", content=system_instruction(target, strong=strong))
    messages = list(request.messages)
    if strong:
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=len(messages))
        messages.insert(last_user, note)
    else:
        lead = 0
        while lead < len(messages) and messages[lead].role in ("system", "developer"):
            lead += 1
        messages[lead:lead] = [note, *(exemplar_messages(target) if exemplars else [])]
    return request.model_copy(update={"messages": messages})


def regeneration_request(request: ChatRequest, target: str, previous: str) -> ChatRequest:
    """The one retry after a reply in the wrong language.

    The (instructed) messages, then the wrong reply as the assistant's turn, the strong instruction and a
    request to rewrite that reply in the target language: small models translate their own answer more
    reliably than they follow a language instruction while answering. Without a previous reply, the
    strong instruction alone, just before the last user message.
    """
    if not previous.strip():
        return with_language_instruction(request, target, strong=True)
    key = normalize_target(target) or "zh-Hant"
    messages = [*request.messages, ChatMessage(role="assistant", content=previous),
                ChatMessage(role="system", content=system_instruction(key, strong=True)),
                ChatMessage(role="user", content=str(prompts()["rewrite"][key]))]
    return request.model_copy(update={"messages": messages})


# -- strategies ----------------------------------------------------------------------------------------

SWC_REMEDIES = ("regenerate", "localize")


@dataclass(frozen=True, slots=True)
class ReplyStrategy:
    """Which optional steps run, in which order.

    ``exemplars``: few-shot Cantonese turns after the instruction. ``swc_remedies``: what is done, in
    order, when Cantonese was asked for and the reply is Standard Written Chinese: ``regenerate`` (one
    more generation, asked to rewrite it), ``localize`` (the word-by-word rewrite, applied only if the
    reply still reads as SWC). Any other wrong-language reply (English for a Chinese target, Chinese for
    an English one) is generated once more whatever the strategy.
    """

    exemplars: bool = False
    swc_remedies: tuple[str, ...] = ("localize",)

    def __post_init__(self) -> None:
        unknown = [r for r in self.swc_remedies if r not in SWC_REMEDIES]
        if unknown or len(set(self.swc_remedies)) != len(self.swc_remedies):
            raise ValueError(f"swc_remedies must be distinct steps of {SWC_REMEDIES}, got {self.swc_remedies}")

    @property
    def localize(self) -> bool:
        return "localize" in self.swc_remedies

    @property
    def regenerate_swc(self) -> bool:
        return "regenerate" in self.swc_remedies

    @property
    def name(self) -> str:
        """The steps for a Cantonese target, in order: ``fewshot+regenerate+localize``."""
        return "+".join(["fewshot" if self.exemplars else "instruct", *self.swc_remedies])


STRATEGIES: dict[str, ReplyStrategy] = {s.name: s for s in (
    ReplyStrategy(swc_remedies=()),
    ReplyStrategy(swc_remedies=("localize",)),
    ReplyStrategy(exemplars=True, swc_remedies=()),
    ReplyStrategy(exemplars=True, swc_remedies=("localize",)),
    ReplyStrategy(swc_remedies=("regenerate",)),
    ReplyStrategy(swc_remedies=("regenerate", "localize")),  # the workflow before issue 10
    ReplyStrategy(exemplars=True, swc_remedies=("regenerate",)),
    ReplyStrategy(exemplars=True, swc_remedies=("regenerate", "localize")),
)}

# Chosen by quality per second of latency (bench/RESULTS.md, "Reply-language strategies", 2026-12-03, 44
# Cantonese questions rated by hand): instruct+localize 24/44 Cantonese at one generation (p50 4.9 s; the
# rewrite takes ~1 ms); adding the regeneration gave the same 24/44 for 2.06x the time of the replies it
# hit; the few-shot exemplars lowered it (the 1.5B model copies them: 20/44, 9/44 with regeneration).
SHIPPED = "instruct+localize"


def strategy_for(localize: bool, name: str = SHIPPED) -> ReplyStrategy:
    """The shipped strategy with localizing on or off. Off (an engine other than the embedded model), a
    Cantonese reply left in Standard Written Chinese is regenerated once instead, as before issue 10: a
    larger model follows the rewrite request, and there is no other remedy."""
    base = STRATEGIES[name]
    if localize:
        return base if base.localize else replace(base, swc_remedies=(*base.swc_remedies, "localize"))
    return replace(base, swc_remedies=("regenerate",))


def resolve_localize(setting: str, engine: Engine) -> bool:
    """``HKLLM_REPLY_LOCALIZE``: on, off, or auto (on for the embedded model only).

    Raises ``ValueError`` for another value."""
    choice = (setting or "auto").strip().lower()
    if choice not in LOCALIZE_CHOICES:
        raise ValueError(f"unknown reply_localize {setting!r}; use one of {', '.join(LOCALIZE_CHOICES)}")
    return isinstance(engine, EmbeddedEngine) if choice == "auto" else choice == "on"


# -- non-streamed ---------------------------------------------------------------------------------------

@dataclass
class ReplyResult:
    """What ``generate_reply`` returns. ``raw_text`` is the model's own text of the chosen attempt;
    ``text`` the final one (script converted, localized). ``completion`` is the chosen attempt's raw
    completion; ``usage`` sums all attempts; ``timings_ms`` gives each step's time."""

    text: str
    raw_text: str
    target: str
    detected: str
    converted: bool
    regenerated: bool
    ok: bool
    completion: dict[str, Any]
    strategy: str
    completions: list[dict[str, Any]] = field(default_factory=list)
    localized: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def usage(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in self.completions:
            for key, value in (c.get("usage") or {}).items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
        return total

    @property
    def rejected_texts(self) -> list[str]:
        """The raw texts of attempts that were not chosen."""
        return [completion_text(c) for c in self.completions if c is not self.completion]

    def final_completion(self) -> dict[str, Any]:
        """The chosen completion with its message text replaced by ``text`` and usage summed."""
        out = dict(self.completion)
        choices = [dict(c) for c in out.get("choices") or []]
        if choices:
            choices[0]["message"] = {**(choices[0].get("message") or {}), "content": self.text}
        out["choices"] = choices
        if self.usage:
            out["usage"] = self.usage
        return out


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


async def generate_reply(engine: Engine, request: ChatRequest, target: str | None = None, *,
                         strategy: ReplyStrategy | None = None, default: str = "zh-Hant") -> ReplyResult:
    """Generate a reply in the target language (``None``: the user's) following ``strategy`` (the
    module doc lists the steps). At most one regeneration."""
    strategy = strategy or strategy_for(True)
    goal = resolve_target([m.text() for m in request.messages if m.role == "user"], target, default=default)
    timings: dict[str, float] = {}
    instructed = with_language_instruction(request, goal, exemplars=strategy.exemplars)
    started = time.perf_counter()
    completions = [await engine.complete(instructed)]
    timings["generate"] = _ms_since(started)
    replies = [completion_text(completions[0])]
    verdicts = [check_reply(replies[0], goal)]
    first = verdicts[0]
    if not first.language_ok and (strategy.regenerate_swc or not first.swc_for_cantonese):
        started = time.perf_counter()
        completions.append(await engine.complete(regeneration_request(instructed, goal, replies[0])))
        timings["regenerate"] = _ms_since(started)
        replies.append(completion_text(completions[1]))
        verdicts.append(check_reply(replies[1], goal))
    # Best: in the right language first, then the larger share of the target language; ties: the later.
    best = max(range(len(replies)), key=lambda i: (verdicts[i].language_ok, verdicts[i].share, i))
    text, verdict = replies[best], verdicts[best]
    converted = localized = False
    started = time.perf_counter()
    if not verdict.script_ok:
        fixed = fix_script(text, goal)
        converted = fixed != text
        text = fixed
        verdict = check_reply(text, goal)
    if strategy.localize and verdict.swc_for_cantonese:
        rewritten = localize_reply(text, goal)
        localized = rewritten != text
        text = rewritten
        verdict = check_reply(text, goal)
    timings["fix"] = _ms_since(started)
    return ReplyResult(text=text, raw_text=replies[best], target=goal, detected=verdict.guess.label,
                       converted=converted, regenerated=len(replies) > 1, ok=verdict.ok,
                       completion=completions[best], strategy=strategy.name, completions=completions,
                       localized=localized, timings_ms=timings)


# -- streaming -------------------------------------------------------------------------------------------

def stream_request(request: ChatRequest, target: str, strategy: ReplyStrategy) -> ChatRequest:
    """What a streamed request sends: the instruction (and exemplars); a stream cannot be regenerated."""
    return with_language_instruction(request, target, exemplars=strategy.exemplars)


def stream_fixer(target: str, strategy: ReplyStrategy) -> StreamScriptFixer:
    """The on-the-fly script fixer (and, with ``localize``, clause-by-clause Cantonese rewrite)."""
    return StreamScriptFixer(target, localize=strategy.localize)


async def fix_stream_script(chunks: AsyncIterator[dict[str, Any]], target: str | None, *,
                            fixer: StreamScriptFixer | None = None) -> AsyncIterator[dict[str, Any]]:
    """Wrap an engine's OpenAI-format chunk stream, converting delta text to the target script (and,
    with a localizing fixer and a Cantonese target, rewriting SWC clauses); pass ``fixer`` to read its
    ``localized`` flag and ``raw`` text afterwards.

    Held-back text is released with the chunk that carries ``finish_reason`` (or in one extra chunk
    when the stream ends without one).
    """
    fixer = fixer or StreamScriptFixer(target)
    last: dict[str, Any] | None = None
    for_finish = False
    async for chunk in chunks:
        last = chunk
        choices = chunk.get("choices") or []
        if not choices:
            yield chunk
            continue
        choice = dict(choices[0])
        delta = dict(choice.get("delta") or {})
        text = fixer.feed(delta["content"]) if isinstance(delta.get("content"), str) else None
        if choice.get("finish_reason") is not None:
            text = (text or "") + fixer.flush()
            for_finish = True
        if text == "" and choice.get("finish_reason") is None and set(delta) <= {"content"}:
            continue  # all held back (a clause not yet judged): no empty chunk goes out
        if text is not None:
            delta["content"] = text
        choice["delta"] = delta
        yield {**chunk, "choices": [choice, *choices[1:]]}
    rest = fixer.flush()
    if rest and not for_finish and last is not None:
        yield {**{k: v for k, v in last.items() if k != "usage"},
               "choices": [{"index": 0, "delta": {"content": rest}, "finish_reason": None}]}
