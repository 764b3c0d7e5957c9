"""Reply-language policy for the chat service.

1. The target language is the user's (detected from the last user messages) unless overridden (setting,
   API field, CLI ``--lang``): ``resolve_target``.
2. A system instruction in the target language is added to the caller's messages (theirs are kept):
   ``with_language_instruction`` / ``system_instruction``.
3. The reply is checked (``check_reply``). Right language, wrong script: converted deterministically
   (``fix_script``, OpenCC). Wrong language: one regeneration with a stronger instruction that asks the
   model to rewrite its reply in the target language (``regeneration_request``), then the better of the
   two replies is returned with ``ok`` telling whether it meets the target. ``generate_with_policy``
   does all of it.
   Cantonese asked for and the best reply is still Standard Written Chinese (what a small model does
   most): the reply is rewritten word by word into Cantonese (``cantonese.swc_to_yue``: 的→嘅, 是→係,
   不→唔, 他→佢 ... over jieba's words) and flagged ``localized``. The content is the model's; only the
   grammar words change, so the result reads as plain, slightly formal Cantonese.
4. Streaming cannot regenerate; ``StreamScriptFixer`` / ``fix_stream_script`` convert script on the fly
   and, for a Cantonese target, localize each released clause that reads as SWC (flag ``localized``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from hkllm.engine import ChatMessage, ChatRequest, Engine, completion_text
from hkllm.lang.cantonese import swc_to_yue
from hkllm.lang.convert import script_counts, to_hans, to_hant
from hkllm.lang.detect import LanguageGuess, detect

TARGETS = ("yue", "zh-Hant", "zh-Hans", "en")
_ALIASES = {
    "yue": "yue", "yue-hant": "yue", "yue-hk": "yue", "zh-yue": "yue", "cantonese": "yue", "粵語": "yue",
    "廣東話": "yue", "zh-hant": "zh-Hant", "zh-hk": "zh-Hant", "zh-tw": "zh-Hant", "zh-mo": "zh-Hant",
    "zh-hant-hk": "zh-Hant", "zh-hant-tw": "zh-Hant", "zh": "zh-Hant", "traditional": "zh-Hant", "繁體": "zh-Hant",
    "zh-hans": "zh-Hans", "zh-cn": "zh-Hans", "zh-sg": "zh-Hans", "zh-hans-cn": "zh-Hans", "simplified": "zh-Hans",
    "简体": "zh-Hans", "en": "en", "en-gb": "en", "en-us": "en", "en-hk": "en", "english": "en",
}
_AUTO = ("", "auto", "none", "default")

_INSTRUCTIONS = {
    # No list of sample characters here: the 1.5B model parrots such lists back as its answer.
    "yue": "你係一個香港助手。請用香港人日常講嘢嘅廣東話口語回答用戶嘅問題，用繁體字。",
    "zh-Hant": "請用繁體中文書面語（香港標準書面語）回答。",
    "zh-Hans": "请用简体中文回答。",
    "en": "Reply in English.",
}
_STRONG = {
    "yue": "重要：你必須用香港廣東話口語回答，全部用繁體字。用「係」唔用「是」，用「嘅」唔用「的」，用「唔」唔用「不」，"
           "用「佢」唔用「他」，用「喺」唔用「在」，用「咗」唔用「了」，用「冇」唔用「沒有」，用「睇」唔用「看」。"
           "例如：「呢個問題唔難，你睇下佢嘅說明就知點做㗎喇。」",
    "zh-Hant": "重要：你的回答必須全部使用繁體中文書面語（香港標準書面語），不可使用簡體字、粵語口語或英文。",
    "zh-Hans": "重要：你的回答必须全部使用简体中文（普通话书面语），不要使用繁体字、粤语口语或英文。",
    "en": "Important: write your entire reply in English only, even though the user may write in Chinese. "
          "Do not use Chinese characters except in names.",
}

_REWRITE = {
    "yue": "請將你上面嘅答案用香港廣東話口語重新寫一次（繁體字），內容唔變。",
    "zh-Hant": "請將你上面的答案改用繁體中文書面語重寫，內容不變。",
    "zh-Hans": "请将你上面的回答改用简体中文重写，内容不变。",
    "en": "Rewrite your answer above in English, keeping the same content.",
}

_FENCE_RE = re.compile(r"```.*?(?:```|\Z)", re.S)
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
_URL_RE = re.compile(r"https?://\S+")


def normalize_target(value: str | None) -> str | None:
    """A target language code from a setting / API field / CLI flag; ``None`` means auto (follow the user).

    Raises ``ValueError`` for an unknown value.
    """
    if value is None or value.strip().lower() in _AUTO:
        return None
    target = _ALIASES.get(value.strip().lower().replace("_", "-"))
    if target is None:
        raise ValueError(f"unknown reply language {value!r}; use one of {', '.join(TARGETS)} or auto")
    return target


def prose(text: str) -> str:
    """The text without fenced code, inline code and URLs (what the language check looks at)."""
    if "`" in text:
        text = _INLINE_CODE_RE.sub(" ", _FENCE_RE.sub("\n", text))
    return _URL_RE.sub(" ", text) if "://" in text else text


def resolve_target(messages: list[ChatMessage], override: str | None = None, *, default: str = "zh-Hant") -> str:
    """The reply language: ``override`` when given (not auto), else the user's language.

    The last user message decides when it is clear. A reply to a short or unmarked message (「多謝」, "OK",
    an emoji) follows the last clear user message before it; with none, the first guess that is not
    ``und``; with none at all, ``default``.
    """
    forced = normalize_target(override)
    if forced:
        return forced
    fallback: str | None = None
    users = [m for m in messages if m.role == "user"][-6:]
    for message in reversed(users):
        guess = detect(prose(message.text()))
        if guess.label == "und":
            continue
        if not guess.neutral and guess.confidence >= 0.7:
            return guess.label
        fallback = fallback or guess.label
    return fallback or normalize_target(default) or "zh-Hant"


def system_instruction(target: str, *, strong: bool = False) -> str:
    """The language instruction, written in the target language."""
    key = normalize_target(target) or "zh-Hant"
    return (_STRONG if strong else _INSTRUCTIONS)[key]


def with_language_instruction(request: ChatRequest, target: str, *, strong: bool = False) -> ChatRequest:
    """A copy of ``request`` with the instruction added as a system message; the caller's messages are kept.

    Normal: after the caller's leading system messages. Strong: right before the last user message,
    where a small model heeds it most.
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
        messages.insert(lead, note)
    return request.model_copy(update={"messages": messages})


def regeneration_request(request: ChatRequest, target: str, previous: str) -> ChatRequest:
    """The one retry after a reply in the wrong language.

    The caller's messages, then the wrong reply as the assistant's turn, the strong instruction and a
    request to rewrite that reply in the target language: small models translate their own answer far
    more reliably than they follow a language instruction while answering. Without a previous reply,
    the strong instruction alone, just before the last user message.
    """
    if not previous.strip():
        return with_language_instruction(request, target, strong=True)
    key = normalize_target(target) or "zh-Hant"
    messages = [*request.messages, ChatMessage(role="assistant", content=previous),
                ChatMessage(role="system", content=_STRONG[key]), ChatMessage(role="user", content=_REWRITE[key])]
    return request.model_copy(update={"messages": messages})


@dataclass(frozen=True, slots=True)
class ReplyVerdict:
    """``language_ok``: the reply is in the target language (unmarked Chinese passes for yue and zh);
    ``script_ok``: no character of the wrong Chinese script. ``share``: the target's share of the text."""

    target: str
    guess: LanguageGuess
    language_ok: bool
    script_ok: bool
    share: float

    @property
    def ok(self) -> bool:
        return self.language_ok and self.script_ok


def check_reply(reply: str, target: str) -> ReplyVerdict:
    """Judge a reply against the target language and script (code and URLs are not judged)."""
    target = normalize_target(target) or "zh-Hant"
    text = prose(reply)
    guess = detect(text)
    if guess.label == "und":
        return ReplyVerdict(target, guess, True, True, 1.0)
    share = guess.proportions.get(target, 0.0)
    if target == "en":
        language_ok = guess.label == "en"
    elif target == "yue":
        language_ok = guess.label == "yue" or guess.neutral
        share = share or (1.0 - guess.proportions.get("en", 0.0) if guess.neutral else 0.0)
    else:
        language_ok = guess.label in ("zh-Hant", "zh-Hans")
        share = guess.proportions.get("zh-Hant", 0.0) + guess.proportions.get("zh-Hans", 0.0)
    trad, simp = script_counts(text)
    script_ok = target == "en" or (simp == 0 if target in ("yue", "zh-Hant") else trad == 0)
    return ReplyVerdict(target, guess, language_ok, script_ok, share)


def fix_script(reply: str, target: str) -> str:
    """Convert the reply to the target's script (HK Traditional for yue and zh-Hant, Simplified for
    zh-Hans); fenced code is left as it is. English targets are returned unchanged."""
    target = normalize_target(target) or "zh-Hant"
    if target == "en" or not reply:
        return reply
    convert = to_hans if target == "zh-Hans" else to_hant
    if "```" not in reply:
        return convert(reply)
    parts = re.split(r"(```.*?(?:```|\Z))", reply, flags=re.S)
    return "".join(p if p.startswith("```") else convert(p) for p in parts)


@dataclass
class PolicyResult:
    """What ``generate_with_policy`` returns. ``completion`` is the raw completion of the chosen reply
    (its text may differ from ``text`` when the script was converted or the reply localized into
    Cantonese); ``usage`` sums all attempts."""

    text: str
    target: str
    detected: str
    converted: bool
    regenerated: bool
    ok: bool
    completion: dict[str, Any]
    completions: list[dict[str, Any]] = field(default_factory=list)
    localized: bool = False

    @property
    def usage(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in self.completions:
            for key, value in (c.get("usage") or {}).items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
        return total

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


async def generate_with_policy(
    engine: Engine,
    request: ChatRequest,
    target: str | None = None,
    *,
    default: str = "zh-Hant",
    regenerate: bool = True,
    localize: bool = True,
) -> PolicyResult:
    """Generate a reply in the target language (see the module doc). At most one regeneration;
    ``localize=False`` leaves an SWC reply to a Cantonese target as it is (flagged not ok)."""
    goal = resolve_target(request.messages, target, default=default)
    instructed = with_language_instruction(request, goal)
    completions = [await engine.complete(instructed)]
    replies = [completion_text(completions[0])]
    verdicts = [check_reply(replies[0], goal)]
    if not verdicts[0].language_ok and regenerate:
        completions.append(await engine.complete(regeneration_request(instructed, goal, replies[0])))
        replies.append(completion_text(completions[1]))
        verdicts.append(check_reply(replies[1], goal))
    # Best: in the right language first, then the larger share of the target language; ties: the later.
    best = max(range(len(replies)), key=lambda i: (verdicts[i].language_ok, verdicts[i].share, i))
    text, verdict = replies[best], verdicts[best]
    converted = localized = False
    if not verdict.script_ok:
        fixed = fix_script(text, goal)
        converted = fixed != text
        text = fixed
        verdict = check_reply(text, goal)
    if goal == "yue" and localize and not verdict.language_ok and verdict.guess.label in ("zh-Hant", "zh-Hans"):
        rewritten = swc_to_yue(text)
        localized = rewritten != text
        text = rewritten
        verdict = check_reply(text, goal)
    return PolicyResult(text=text, target=goal, detected=verdict.guess.label, converted=converted,
                        regenerated=len(replies) > 1, ok=verdict.ok, completion=completions[best],
                        completions=completions, localized=localized)


# -- streaming ---------------------------------------------------------------------------------------

_BOUNDARY = set("，。！？；：、,.!?;:\n 「」『』（）()《》")


class StreamScriptFixer:
    """Converts streamed text to the target script piece by piece.

    OpenCC converts phrase by phrase, so text is held back until a punctuation mark, space or newline
    (or ``max_hold`` characters) and released converted; fenced code passes unchanged. For a Cantonese
    target each released piece that reads as Standard Written Chinese is also rewritten word by word
    (``swc_to_yue``; ``localized`` tells whether any was). Call ``feed`` with each delta and ``flush``
    at the end. For ``en`` (or ``None``) everything passes straight through.
    """

    def __init__(self, target: str | None, *, max_hold: int = 48, localize: bool = True) -> None:
        target = normalize_target(target) if target else None
        self.convert = None if target in (None, "en") else to_hans if target == "zh-Hans" else to_hant
        self.localize = localize and target == "yue"
        self.localized = False
        self.max_hold = max_hold
        self._buffer = ""
        self._in_code = False

    def _prose(self, text: str) -> str:
        assert self.convert is not None
        text = self.convert(text)
        if self.localize and detect(text).label in ("zh-Hant", "zh-Hans"):
            rewritten = swc_to_yue(text)
            self.localized = self.localized or rewritten != text
            text = rewritten
        return text

    def _emit(self, text: str) -> str:
        if self.convert is None or not text:
            return text
        out = []
        for i, part in enumerate(text.split("```")):
            if i:
                out.append("```")
                self._in_code = not self._in_code
            out.append(part if self._in_code else self._prose(part))
        return "".join(out)

    def feed(self, chunk: str) -> str:
        if self.convert is None:
            return chunk
        self._buffer += chunk
        cut = max((i for i, ch in enumerate(self._buffer) if ch in _BOUNDARY), default=-1) + 1
        if cut == 0 and len(self._buffer) > self.max_hold:
            cut = len(self._buffer) - 3  # never split a ``` fence being typed
            while cut > 0 and self._buffer[cut - 1] == "`":
                cut -= 1
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return self._emit(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._emit(ready)


async def fix_stream_script(chunks: AsyncIterator[dict[str, Any]], target: str | None, *,
                            fixer: StreamScriptFixer | None = None) -> AsyncIterator[dict[str, Any]]:
    """Wrap an engine's OpenAI-format chunk stream, converting delta text to the target script (and,
    for Cantonese, localizing SWC clauses); pass ``fixer`` to read its ``localized`` flag afterwards.

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
        if text is not None:
            delta["content"] = text
        choice["delta"] = delta
        yield {**chunk, "choices": [choice, *choices[1:]]}
    rest = fixer.flush()
    if rest and not for_finish and last is not None:
        yield {**{k: v for k, v in last.items() if k != "usage"},
               "choices": [{"index": 0, "delta": {"content": rest}, "finish_reason": None}]}
