"""Answer extraction that copes with 兩文三語 reply formats.

``extract_choice`` finds the option letter in replies such as 「答案係 B」, 「选B」, "The answer is (B)",
「我揀 C 呀」, "B. 建築會變得更安全", "（Ｄ）" or just the option's text. ``extract_number`` finds the
final number of a worked maths answer (「答案係 18」, "#### 18", "\\boxed{18}", "$1,875", 「十八」).

Both return ``None`` when the reply does not commit to one answer; that scores as wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

_LETTER_NEAR = r"(?<![A-Za-z])"  # not part of a Latin word on the left
_LETTER_END = r"(?![A-Za-z])"  # ... nor on the right (CJK may follow directly: 「B嘅」)
_OPEN = r"[\s(\[{（【「『\"'“‘<《]*"

# Phrases that introduce the chosen answer, in Cantonese, Mandarin (both scripts) and English.
# Strong leads name the answer itself; weak leads ("option B") are tried only when no strong one is.
_STRONG_LEAD = (
    r"(?:正確答案|正确答案|最佳答案|答案|答|選擇|选择|應該選|应该选|應選|应选|應揀|應該揀|我會揀|我揀|揀|拣|選|选|"
    r"correct\s+answer|final\s+answer|best\s+answer|answer)"
)
_WEAK_LEAD = r"(?:選項|选项|option|choice)"
_ANSWER_LINK = (
    r"(?:\s*(?:應該|应该|就|都|會|会|肯定|一定)?\s*(?:係|是|為|为|即係|就係|應該係|应该是|:|：|=|is|would\s+be|"
    r"should\s+be|will\s+be|must\s+be)?\s*(?:選項|选项|option|choice|letter)?)"
)
_AFTER_LEAD = r"\s*(?:is\s+)?" + _ANSWER_LINK + _OPEN + _LETTER_NEAR + r"([A-Z])" + _LETTER_END
_CHOICE_AFTER_STRONG = re.compile(_STRONG_LEAD + _AFTER_LEAD, re.IGNORECASE)
_CHOICE_AFTER_WEAK = re.compile(_WEAK_LEAD + _AFTER_LEAD, re.IGNORECASE)
# "B is correct", 「B 係啱嘅」, 「B正確」, 「B 對」
_CHOICE_BEFORE_VERDICT = re.compile(
    _LETTER_NEAR + r"([A-Z])" + r"[\s)）】」』\"'”’>》.．]*"
    r"(?:係啱|係正確|係對|是正確|是正确|是對|是对|正確|正确|啱|對|对|is\s+(?:the\s+)?(?:correct|right|answer))"
)
# A reply that opens with the letter: "B", "B.", "(B)", "B、", 「B：建築……」
_LEADING_LETTER = re.compile(r"^\s*" + _OPEN + r"([A-Z])(?:\s*$|[\s)）】」』\]\"'”’.．:：、,，。;；-])")
# 「第二個選項」, 「第三項」
# "A and B", 「A 同 B」: two letters at once are no answer
_TWO_LETTERS = re.compile(r"^\s*[A-Z]\s*(?:and|or|&|同|或者|或|定|及|和|、|,|，|/)\s*[A-Z](?![A-Za-z])")
_ORDINAL = re.compile(r"第\s*([一二三四五六七八1-8])\s*(?:個|个)?\s*(?:選項|选项|項|项|個答案|个答案)")
_ORDINALS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "七": 6, "八": 7}
_LONE_LETTER = re.compile(_LETTER_NEAR + r"([A-Z])" + _LETTER_END)


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII) and trimmed."""
    return unicodedata.normalize("NFKC", text or "").strip()


def extract_choice(
    text: str, letters: Sequence[str] = "ABCD", options: Mapping[str, str] | None = None
) -> str | None:
    """The option letter a reply commits to, or ``None``.

    Order: an explicit answer phrase (the first one, so a model that goes on to write a next question
    does not count); a reply that opens with a letter; 「第二個選項」; "B is correct"; exactly one
    option's text quoted in the reply; exactly one distinct stand-alone letter.
    """
    allowed = {letter.upper() for letter in letters}
    reply = normalize(text)
    if not reply:
        return None

    match: re.Match[str] | None
    for pattern in (_CHOICE_AFTER_STRONG, _CHOICE_AFTER_WEAK):
        for match in pattern.finditer(reply):
            letter = match.group(1).upper()
            if letter in allowed and (match.group(1).isupper() or _short_tail(reply, match.end())):
                return letter

    if _TWO_LETTERS.match(reply):
        return None
    match = _LEADING_LETTER.match(reply)
    if match and match.group(1) in allowed:
        return match.group(1)

    match = _ORDINAL.search(reply)
    if match:
        raw = match.group(1)
        index = int(raw) - 1 if raw.isdigit() else _ORDINALS[raw]
        ordered = sorted(allowed)
        if 0 <= index < len(ordered):
            return ordered[index]

    verdicts = {m.group(1) for m in _CHOICE_BEFORE_VERDICT.finditer(reply) if m.group(1) in allowed}
    if len(verdicts) == 1:
        return verdicts.pop()

    if options:
        by_text = _match_option_text(reply, {k.upper(): v for k, v in options.items() if k.upper() in allowed})
        if by_text:
            return by_text

    lone = {m.group(1) for m in _LONE_LETTER.finditer(reply) if m.group(1) in allowed}
    if len(lone) == 1:
        return lone.pop()
    return None


def _short_tail(reply: str, end: int) -> bool:
    """A lower-case letter after an answer phrase counts only if little follows ("answer: b")."""
    return len(reply[end:].strip(" .。!！)）")) <= 2


def _squash(text: str) -> str:
    return re.sub(r"[\s,，。.、:：;；!！?？\"'“”‘’「」『』()（）]", "", normalize(text)).lower()


def _match_option_text(reply: str, options: Mapping[str, str]) -> str | None:
    """The letter whose option text appears in the reply, when exactly one does (longest wins ties
    where one option's text contains another's)."""
    squashed = _squash(reply)
    hits = {k: _squash(v) for k, v in options.items() if v and len(_squash(v)) >= 1 and _squash(v) in squashed}
    if not hits:
        return None
    keep = [k for k, v in hits.items() if not any(v != w and v in w for w in hits.values())]
    if len(keep) == 1 and (len(hits[keep[0]]) >= 2 or squashed == hits[keep[0]]):
        return keep[0]
    return None


# ---------------------------------------------------------------------------------------------------
# Numbers

_NUM = r"-?\d+(?:\.\d+)?"
_FINAL_MARK = re.compile(r"####\s*\$?\s*(" + _NUM + ")")
_BOXED = re.compile(r"\\boxed\{\s*\$?\s*(" + _NUM + r")")
_ANSWER_NUMBER = re.compile(
    r"(?:最終答案|最终答案|正確答案|正确答案|答案|答|final\s+answer|the\s+answer|answer)"
    r"\s*(?:應該|应该|就)?\s*(?:係|是|為|为|:|：|=|is|would\s+be|will\s+be)?\s*[:：]?\s*"
    r"(?:約|约|大約|大约|about|approximately)?\s*\$?\s*(" + _NUM + ")",
    re.IGNORECASE,
)
_ANY_NUMBER = re.compile(_NUM)
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "萬": 10_000, "万": 10_000}
_CN_NUMBER = re.compile(r"(?:答案|答)\s*(?:係|是|為|为|:|：)?\s*([零〇一二兩两三四五六七八九十百千萬万]+)")


def _clean_numbers(text: str) -> str:
    text = normalize(text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 1,875 -> 1875
    text = re.sub(r"(?<=\d) (?=\d{3}(?!\d))", "", text)  # 88 000 -> 88000
    text = re.sub(r"(?<=\d)\.(?!\d)", "", text)  # "18." -> "18"
    return text


def chinese_to_int(text: str) -> int | None:
    """「十八」 -> 18, 「兩百零五」 -> 205, 「三萬」 -> 30000; ``None`` for anything else."""
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in text):
        return None
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
            continue
        unit = _CN_UNITS[ch]
        if unit == 10_000:
            section = (section + (digit or 0)) * unit
            total, section = total + section, 0
        else:
            section += (1 if digit is None else digit) * unit
        digit = None
    return total + section + (digit or 0)


def extract_number(text: str) -> str | None:
    """The final numeric answer of a reply, as a plain string ("18", "-3", "2.5"), or ``None``.

    Order: ``#### N``; ``\\boxed{N}``; the last 「答案係 N」 / "the answer is N" phrase; a Chinese-numeral
    answer (「答案係十八」); the last number in the reply.
    """
    cleaned = _clean_numbers(text)
    if not cleaned:
        return None
    for pattern in (_FINAL_MARK, _BOXED):
        match = pattern.search(cleaned)
        if match:
            return canonical_number(match.group(1))
    phrases = list(_ANSWER_NUMBER.finditer(cleaned))
    if phrases:
        return canonical_number(phrases[-1].group(1))
    cn = list(_CN_NUMBER.finditer(cleaned))
    if cn:
        value = chinese_to_int(cn[-1].group(1))
        if value is not None:
            return str(value)
    numbers = _ANY_NUMBER.findall(cleaned)
    return canonical_number(numbers[-1]) if numbers else None


def canonical_number(raw: str) -> str:
    """"18.00" -> "18", "-0" -> "0", "2.50" -> "2.5"; commas removed."""
    raw = raw.replace(",", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return raw
    if value == int(value):
        return str(int(value))
    return repr(value)


def numbers_equal(pred: str | None, gold: str) -> bool:
    if pred is None:
        return False
    try:
        return abs(float(pred) - float(gold)) < 1e-6
    except ValueError:
        return pred.strip() == gold.strip()
