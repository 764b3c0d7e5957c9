"""Pure checks and fixes for a model's reply against a target language (no engine, no I/O).

- ``normalize_target`` / ``resolve_target``: the reply language asked for (setting, API field, CLI flag)
  or, on auto, the user's own (from the texts of the user's messages).
- ``check_reply``: is the reply in the target language and script (code and URLs not judged).
- ``fix_script``: convert to the target's script (OpenCC), code blocks untouched.
- ``localize_reply``: for a Cantonese target, rewrite a reply that reads as Standard Written Chinese word
  by word into Cantonese (``cantonese.swc_to_yue``); anything else is returned unchanged.
- ``StreamScriptFixer``: the same two fixes applied to a stream of text pieces, clause by clause.

The workflow that calls a model (instruction, exemplars, regeneration, when to localize) lives in
``hkllm.services.reply_language``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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


def resolve_target(user_texts: Sequence[str], override: str | None = None, *, default: str = "zh-Hant") -> str:
    """The reply language: ``override`` when given (not auto), else the user's language.

    ``user_texts`` are the texts of the user's messages, oldest first. The last one decides when it is
    clear. A reply to a short or unmarked message (「多謝」, "OK", an emoji) follows the last clear user
    message before it; with none, the first guess that is not ``und``; with none at all, ``default``.
    """
    forced = normalize_target(override)
    if forced:
        return forced
    fallback: str | None = None
    for text in reversed(list(user_texts)[-6:]):
        guess = detect(prose(text))
        if guess.label == "und":
            continue
        if not guess.neutral and guess.confidence >= 0.7:
            return guess.label
        fallback = fallback or guess.label
    return fallback or normalize_target(default) or "zh-Hant"


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

    @property
    def swc_for_cantonese(self) -> bool:
        """Cantonese was asked for and the reply reads as Standard Written Chinese (what localizing fixes)."""
        return self.target == "yue" and not self.language_ok and self.guess.label in ("zh-Hant", "zh-Hans")


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


def localize_reply(reply: str, target: str) -> str:
    """For a Cantonese target, a reply that reads as Standard Written Chinese rewritten word by word into
    Cantonese (的→嘅, 是→係, 不→唔, 他→佢 ..., code blocks untouched); any other reply unchanged."""
    if not check_reply(reply, target).swc_for_cantonese:
        return reply
    if "```" not in reply:
        return swc_to_yue(reply)
    parts = re.split(r"(```.*?(?:```|\Z))", reply, flags=re.S)
    return "".join(p if p.startswith("```") else swc_to_yue(p) for p in parts)


# -- streaming ---------------------------------------------------------------------------------------

_BOUNDARY = set("，。！？；：、,.!?;:\n 「」『』（）()《》")


class StreamScriptFixer:
    """Converts streamed text to the target script piece by piece.

    OpenCC converts phrase by phrase, so text is held back until a punctuation mark, space or newline
    (or ``max_hold`` characters) and released converted; fenced code passes unchanged. With
    ``localize`` and a Cantonese target each released piece that reads as Standard Written Chinese is
    also rewritten word by word (``swc_to_yue``; ``localized`` tells whether any was). Call ``feed`` with
    each delta and ``flush`` at the end; ``raw`` is everything fed, unchanged. For ``en`` (or ``None``)
    everything passes straight through.
    """

    def __init__(self, target: str | None, *, max_hold: int = 48, localize: bool = True) -> None:
        target = normalize_target(target) if target else None
        self.convert = None if target in (None, "en") else to_hans if target == "zh-Hans" else to_hant
        self.localize = localize and target == "yue"
        self.localized = False
        self.max_hold = max_hold
        self.raw_parts: list[str] = []
        self._buffer = ""
        self._in_code = False

    @property
    def raw(self) -> str:
        """The text as the model wrote it (all pieces fed so far)."""
        return "".join(self.raw_parts)

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
        self.raw_parts.append(chunk)
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
