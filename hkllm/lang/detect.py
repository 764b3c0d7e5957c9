"""兩文三語 language identification: ``detect(text) -> LanguageGuess``.

Labels: ``yue`` written Cantonese (also code-mixed with English), ``zh-Hant`` Standard Written Chinese in
Traditional script, ``zh-Hans`` Chinese in Simplified script, ``en`` English (any Latin-script text),
``und`` nothing to judge (empty, digits, symbols, emoji, other scripts).

How it decides (all set lookups and precompiled regexes, no model):

1. Counts: Han characters, Latin words (and English function words among them), kana/hangul.
2. Script: characters that exist only in Traditional / only in Simplified (``convert.script_counts``).
3. Cantonese vs Standard Written Chinese: weighted lexical markers (``markers.tsv``), matched
   leftmost-longest with dict lookups; exceptions (關係, 的士, 其他, 目的 ...) are in the same table
   with weight 0 so they swallow the character they would otherwise trigger on. Simplified-script
   versions of the markers are derived with OpenCC.
4. Matrix language for code-mixed text: Chinese grammar with English content words (「我聽日要submit
   份report」) is Chinese; English grammar (function words) around a few Han characters is English.

Unmarked Chinese (no Cantonese and no SWC markers: 「多謝」「香港」) is labelled by script (zh-Hant or
zh-Hans) with a low confidence; ``LanguageGuess.neutral`` says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hkllm.lang.convert import script_counts, to_hans

LABELS = ("yue", "zh-Hant", "zh-Hans", "en", "und")
_MARKERS = Path(__file__).with_name("markers.tsv")

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN_WORD_RE = re.compile(
    r"[A-Za-z\u00c0-\u024f\uff21-\uff3a\uff41-\uff5a]+(?:['’-][A-Za-z\u00c0-\u024f\uff21-\uff3a\uff41-\uff5a]+)*")
_KANA_HANGUL_RE = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff]")
_OTHER_LETTER_RE = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")
# Internet Cantonese spellings between Han characters: 我D書 (啲), 唔該晒D.
_ROMAN_YUE_RE = re.compile(r"(?<=[\u4e00-\u9fff])[Dd](?=[\u4e00-\u9fff]|$)")
_HANS_CANTO_RE = re.compile(
    r"(?<![体體派世直旁星水语語科学學院母父谱譜书書银銀太])系(?![统統列数數主])|(?<=[呢嗰一两兩几幾边邊])只")
_TITLE_RE = re.compile(r"《[^《》]{0,60}》")
_CLAUSE_SPLIT_RE = re.compile(r"[。！？；!?;\n]+|[，,](?=.{6})")

# English function words: their presence marks English as the matrix language of a mixed text.
_EN_FUNCTION = frozenset(
    "the a an of to in on at for with from by is are was were be been am do does did have has had will would "
    "can could should shall may might must and or but if then than that this these those there here it its "
    "i you he she we they me him her us them my your his our their what which who whom whose when where why "
    "how not no yes please thanks thank".split()
)


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The result of ``detect``.

    ``proportions`` gives the share of the text in each label (sums to 1; a single entry when the text is
    not mixed; empty for ``und``). ``script`` is ``Hant``, ``Hans``, ``Latn`` or ``None``. ``yue_score`` /
    ``swc_score`` are the weighted Cantonese and Standard Written Chinese evidence.
    """

    label: str
    confidence: float
    script: str | None = None
    proportions: dict[str, float] = field(default_factory=dict)
    yue_score: float = 0.0
    swc_score: float = 0.0
    trad_chars: int = 0
    simp_chars: int = 0
    han_chars: int = 0
    latin_words: int = 0

    @property
    def is_chinese(self) -> bool:
        return self.label in ("yue", "zh-Hant", "zh-Hans")

    @property
    def neutral(self) -> bool:
        """Chinese text with no Cantonese and no Standard-Written-Chinese marker."""
        return self.is_chinese and self.yue_score == 0 and self.swc_score == 0

    @property
    def mixed(self) -> bool:
        return len([v for v in self.proportions.values() if v >= 0.1]) > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 3),
            "script": self.script,
            "proportions": {k: round(v, 3) for k, v in self.proportions.items()},
            "mixed": self.mixed,
            "neutral": self.neutral,
            "evidence": {"yue": round(self.yue_score, 2), "swc": round(self.swc_score, 2),
                         "trad_chars": self.trad_chars, "simp_chars": self.simp_chars,
                         "han_chars": self.han_chars, "latin_words": self.latin_words},
        }


UND = LanguageGuess("und", 1.0)


# -- marker lexicon ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lexicon:
    weights: dict[str, tuple[float, float]]  # string -> (yue weight, swc weight); (0, 0) for exceptions
    first: dict[str, tuple[int, ...]]  # first character -> lengths of the strings starting with it, longest first
    starts: re.Pattern[str]  # any first character


def _load_markers() -> list[tuple[str, str, float, bool]]:
    """(kind, string, weight, also_hans) rows of markers.tsv; kind is yue, swc or skip."""
    rows: list[tuple[str, str, float, bool]] = []
    for line in _MARKERS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, weight, words, *flags = line.split("\t")
        hans = "hant-only" not in flags
        rows.extend((kind, w, float(weight), hans) for w in words.split())
    return rows


def _compile(rows: list[tuple[str, str, float]]) -> _Lexicon:
    weights: dict[str, tuple[float, float]] = {}
    for kind, word, weight in rows:  # skip rows come first; otherwise the first definition wins
        if word not in weights:
            weights[word] = (0.0, 0.0) if kind == "skip" else (weight, 0.0) if kind == "yue" else (0.0, weight)
    lengths: dict[str, set[int]] = {}
    for word in weights:
        lengths.setdefault(word[0], set()).add(len(word))
    starts = re.compile("[" + "".join(re.escape(ch) for ch in sorted(lengths)) + "]")
    return _Lexicon(weights, {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}, starts)


@cache
def _lexicons() -> tuple[_Lexicon, _Lexicon]:
    """(Traditional-script lexicon, Simplified-script lexicon)."""
    rows = _load_markers()
    hant = _compile([(k, w, x) for k, w, x, _ in rows if k == "skip"] + [(k, w, x) for k, w, x, _ in rows if k != "skip"])
    hans_rows: list[tuple[str, str, float]] = []
    for kind, word, weight, also_hans in rows:
        if not also_hans:
            continue
        simplified = to_hans(word)
        if kind == "yue" and len(word) == 1 and simplified != word:
            continue  # 係→系, 話→话: the Simplified form is an ordinary SWC character
        hans_rows.append((kind, simplified, weight))
        if kind == "skip":
            hans_rows.append((kind, word, weight))
    hans = _compile([r for r in hans_rows if r[0] == "skip"] + [r for r in hans_rows if r[0] != "skip"])
    return hant, hans


def _matches(text: str, lex: _Lexicon) -> list[str]:
    """Leftmost-longest matches of the lexicon's strings, scanning left to right."""
    found = []
    i, n, first, weights = 0, len(text), lex.first, lex.weights
    while i < n:
        for size in first.get(text[i], ()):
            if text[i : i + size] in weights:
                found.append(text[i : i + size])
                i += size
                break
        else:
            i += 1
    return found


@cache
def exception_words() -> frozenset[str]:
    """Ordinary words that contain a marker character (關係, 目的, 是否, 的士 ...), Traditional script."""
    return frozenset(word for kind, word, _, _ in _load_markers() if kind == "skip")


def marker_hits(text: str, *, simplified: bool = False) -> list[tuple[str, str, float]]:
    """The markers found in ``text``: (kind, string, weight), exceptions left out. For explanations."""
    lex = _lexicons()[1 if simplified else 0]
    hits = []
    for s in _matches(text, lex):
        y, w = lex.weights[s]
        if y or w:
            hits.append(("yue", s, y) if y else ("swc", s, w))
    return hits


def _scores(text: str, lex: _Lexicon) -> tuple[float, float]:
    """(Cantonese evidence, SWC evidence). The hot loop of ``detect``: a regex finds the positions
    where a marker may start, dict lookups do the rest."""
    y = s = 0.0
    resume = 0
    first, get = lex.first, lex.weights.get
    for m in lex.starts.finditer(text):
        i = m.start()
        if i < resume:
            continue
        for size in first[m.group()]:
            w = get(text[i : i + size])
            if w is not None:
                y += w[0]
                s += w[1]
                resume = i + size
                break
    if "D" in text or "d" in text:
        y += 2.0 * len(_ROMAN_YUE_RE.findall(text))
    return y, s


# -- decision ------------------------------------------------------------------------------------------

# Cantonese writing borrows Standard-Written-Chinese words far more often than SWC borrows Cantonese
# ones, so Cantonese evidence counts for more.
_YUE_BIAS = 1.6
_HAN_PER_WORD = 1.7
_MAX_CHARS = 40_000  # Han characters carrying about as much as one English word


def _chinese_label(yue: float, swc: float, hans: bool) -> tuple[str, float]:
    zh = "zh-Hans" if hans else "zh-Hant"
    if yue == 0 and swc == 0:
        return zh, 0.0
    margin = yue * _YUE_BIAS - swc
    label = "yue" if margin > 0 else zh
    return label, margin


def _confidence(margin: float, evidence: float, han: int) -> float:
    if evidence == 0:  # unmarked Chinese: the script is all we know
        return 0.55 if han >= 4 else 0.5
    strength = min(1.0, abs(margin) / (evidence + 1.0))  # how one-sided the evidence is
    amount = 1.0 - math.exp(-evidence / 3.0)  # how much evidence there is
    return min(0.99, 0.5 + 0.49 * strength * amount)


def _clause_shares(text: str, lex: _Lexicon, doc_label: str, hans: bool) -> dict[str, float]:
    """Shares of yue / SWC by Han characters per clause (only called when the text has both)."""
    zh = "zh-Hans" if hans else "zh-Hant"
    totals: dict[str, float] = {}
    for clause in _CLAUSE_SPLIT_RE.split(text):
        n = len(_HAN_RE.findall(clause))
        if not n:
            continue
        y, s = _scores(clause, lex)
        label, _ = _chinese_label(y, s, hans)
        if y == 0 and s == 0:
            label = doc_label
        label = "yue" if label == "yue" else zh
        totals[label] = totals.get(label, 0.0) + n
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in totals.items()}


def detect(text: str | bytes) -> LanguageGuess:
    """Guess the language of ``text``. Never raises for any str/bytes input (bytes: UTF-8, errors replaced)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"detect() takes str or bytes, not {type(text).__name__}")
    if len(text) > _MAX_CHARS:  # long documents: judge a sample from the start, middle and end
        mid = len(text) // 2
        text = text[: _MAX_CHARS // 2] + "\n" + text[mid : mid + _MAX_CHARS // 4] + "\n" + text[-_MAX_CHARS // 4 :]
    han = len(_HAN_RE.findall(text))
    words = _LATIN_WORD_RE.findall(text)
    if words and han and ("D" in words or "d" in words):
        words = [w for w in words if w not in ("D", "d")] if _ROMAN_YUE_RE.search(text) else words
    n_words = len(words)
    letters = sum(len(w) for w in words)
    if han == 0:
        if letters < 2 or (letters <= 3 and any(ch.isdigit() for ch in text)):  # 3pm, HK$300, A1
            return UND
        if letters >= len(_KANA_HANGUL_RE.findall(text)) + len(_OTHER_LETTER_RE.findall(text)):
            func = sum(1 for w in words if w.lower() in _EN_FUNCTION)
            conf = min(0.99, 0.6 + 0.08 * n_words + 0.1 * func)
            return LanguageGuess("en", conf, "Latn", {"en": 1.0}, latin_words=n_words)
        return UND
    if _KANA_HANGUL_RE.search(text) and len(_KANA_HANGUL_RE.findall(text)) > han:  # Japanese, Korean
        return LanguageGuess("und", 0.6, None, {}, han_chars=han, latin_words=n_words)

    trad, simp = script_counts(text)
    if trad == 0 and ("系" in text or "只" in text):  # Cantonese typed in Simplified: 系咩, 呢只
        simp += len(_HANS_CANTO_RE.findall(text))
    hans = simp > trad
    lex = _lexicons()[1 if hans else 0]
    # Titles of songs, books, laws are names, not the writer's language: score the rest when there is any.
    body = _TITLE_RE.sub("…", text) if "《" in text else text
    if body is not text and not _HAN_RE.search(body):
        body = text
    yue, swc = _scores(body, lex)
    label, margin = _chinese_label(yue, swc, hans)
    evidence = yue + swc

    # Matrix language of code-mixed text.
    zh_units = han / _HAN_PER_WORD
    en_share = n_words / (n_words + zh_units) if n_words else 0.0
    if n_words:
        func = sum(1 for w in words if w.lower() in _EN_FUNCTION)
        # English grammar around a few Han characters (names, a quoted word) vs Chinese grammar with
        # English content words: function words and the balance of the two decide.
        english_matrix = n_words >= 2 and (
            (func >= 1 and n_words > zh_units * (1.0 + evidence / 3.0))
            or (evidence == 0 and n_words >= 2 * zh_units))
        if english_matrix:
            props = {"en": en_share}
            props[label] = 1.0 - en_share
            conf = min(0.99, 0.55 + 0.4 * en_share + 0.05 * min(func, 2))
            return LanguageGuess("en", conf, "Latn", props, yue, swc, trad, simp, han, n_words)

    conf = _confidence(margin, evidence, han)
    if yue > 0 and swc > 0 and han >= 12:
        shares = _clause_shares(body, lex, label, hans)
    else:
        shares = {label: 1.0}
    props = {k: v * (1.0 - en_share) for k, v in shares.items()}
    if en_share:
        props["en"] = en_share
    script = "Hans" if hans else "Hant"
    return LanguageGuess(label, conf, script, props, yue, swc, trad, simp, han, n_words)
