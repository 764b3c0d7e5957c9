"""Cantonese <-> Standard Written Chinese (SWC) lexical mapping, segmentation and Jyutping.

The correspondences are data (``yue_swc.tsv``: 嘅/的, 係/是, 唔/不, 佢/他, 冇/沒有, 喺/在, 咗/了, 睇/看,
哋/們 ...). ``yue_to_swc`` rewrites word by word over pycantonese's segmentation (a Cantonese
segmenter) and ``swc_to_yue`` over jieba's (an SWC one), so that 係 in 關係, 的 in 目的, 元 in 多元 or
了 in 了解 stay as they are. It is lexical substitution, not translation: used for search-query
expansion (``expand_query``), as the translation app's glossary, and by the reply-language policy as
its last resort for a reply that stayed in SWC when Cantonese was asked for (flagged as such).

pycantonese and jieba are imported on first use (about a second each). Without them (or with
``use_segmenter=False``) the rewrite is a longest match over the raw text in which the detector's
exception words (關係, 目的, 是否 ...) map to themselves, so the characters inside them stay.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hkllm.lang.convert import script_counts, to_hans, to_hant
from hkllm.lang.detect import exception_words

_SPACE_RUN_RE = re.compile(r"(\s+)")

_DATA = Path(__file__).with_name("yue_swc.tsv")


# SWC -> yue only, decided by the neighbouring jieba tokens (see yue_swc.tsv's header).
CONTEXT_TAGS = ("alone", "final", "pair")


@dataclass(frozen=True, slots=True)
class Correspondence:
    """One row of the lexicon. ``swc`` is empty for sentence particles (dropped in SWC)."""

    yue: str
    swc: tuple[str, ...]
    tag: str  # word | token | part | alone | final | pair
    oneway: bool = False  # yue -> SWC only
    toyue: bool = False  # SWC -> yue only


@cache
def lexicon() -> tuple[Correspondence, ...]:
    rows = []
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        yue, swc, tag, *flags = line.split("\t")
        if tag not in ("word", "token", "part", *CONTEXT_TAGS):
            raise ValueError(f"{_DATA.name}: unknown tag {tag!r} for {yue!r}")
        unknown = set(flags) - {"oneway", "toyue"}
        if unknown:
            raise ValueError(f"{_DATA.name}: unknown flag {sorted(unknown)} for {yue!r}")
        rows.append(Correspondence(yue, tuple(s for s in swc.split("|") if s), tag, "oneway" in flags,
                                   "toyue" in flags))
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class _Table:
    anywhere: dict[str, str]  # replaced wherever found (longest match)
    tokens: dict[str, str]  # replaced only as a whole token (with the segmenter)
    greedy: dict[str, str]  # without the segmenter: everything, plus protected words mapped to themselves
    within: dict[str, str]  # inside a segmenter token: the "anywhere" words, protected words kept
    max_len: int
    # With the segmenter only, by tag: "alone" a token that is a clause of its own (不， → 唔係，);
    # "final" one or two tokens that end a clause (可以的。 → 可以㗎。); "pair" two tokens (不用的 → 唔用嘅).
    context: dict[str, dict[str, str]]


def _table(anywhere: dict[str, str], tokens: dict[str, str],
           context: dict[str, dict[str, str]] | None = None) -> _Table:
    protected = {w: w for w in exception_words() if w not in anywhere and w not in tokens}
    greedy = {**protected, **tokens, **anywhere}
    return _Table(anywhere, tokens, greedy, {**protected, **anywhere}, max(len(k) for k in greedy),
                  context or {tag: {} for tag in CONTEXT_TAGS})


@cache
def _tables() -> tuple[_Table, _Table]:
    """(yue -> SWC, SWC -> yue)."""
    to_swc_any: dict[str, str] = {}
    to_swc_tok: dict[str, str] = {}
    to_yue_any: dict[str, str] = {}
    to_yue_tok: dict[str, str] = {}
    to_yue_context: dict[str, dict[str, str]] = {tag: {} for tag in CONTEXT_TAGS}
    for row in lexicon():
        target = row.swc[0] if row.swc else ""
        if row.tag in CONTEXT_TAGS:  # SWC -> yue only, in context
            for swc in row.swc:
                to_yue_context[row.tag].setdefault(swc, row.yue)
            continue
        if not row.toyue:
            (to_swc_any if row.tag == "word" else to_swc_tok).setdefault(row.yue, target)
        if row.oneway or row.tag == "part":
            continue
        for swc in row.swc:
            # A single SWC character (的, 是, 在) is too often part of another word: whole tokens only.
            (to_yue_tok if len(swc) == 1 or row.tag == "token" else to_yue_any).setdefault(swc, row.yue)
    return _table(to_swc_any, to_swc_tok), _table(to_yue_any, to_yue_tok, to_yue_context)


@cache
def _pycantonese() -> object | None:
    try:
        import pycantonese
    except ImportError:
        return None
    return pycantonese


_jieba_lock = threading.Lock()


@cache
def jieba_module() -> Any:
    """jieba, initialised once (thread-safe); its log lines silenced. jieba segments SWC, not Cantonese."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
    return jieba


def segment_swc(text: str) -> list[str] | None:
    """SWC word segmentation with jieba (run on the Simplified form, which its dictionary is made of);
    ``None`` when jieba is missing or the conversion changed the length."""
    try:
        jieba = jieba_module()
    except ImportError:
        return None
    hans = to_hans(text)
    if len(hans) != len(text):
        return None
    return [text[start:end] for _, start, end in jieba.tokenize(hans, HMM=False)]


def segment(text: str) -> list[str]:
    """Cantonese word segmentation (pycantonese); without pycantonese, the text as one token. Runs of
    whitespace are tokens of their own (pycantonese drops them: 「Cap. 486 s. 18」 must stay apart)."""
    pc = _pycantonese()
    if pc is None or not text:
        return [text] if text else []
    out: list[str] = []
    for i, part in enumerate(_SPACE_RUN_RE.split(text)):
        if i % 2:
            out.append(part)
        elif part:
            out.extend(pc.segment(part))  # type: ignore[attr-defined]
    return out


def jyutping(text: str) -> list[tuple[str, str | None]]:
    """(word, Jyutping) pairs from pycantonese; ``None`` for words it has no reading for (English, digits)."""
    pc = _pycantonese()
    if pc is None:
        raise RuntimeError("jyutping() needs pycantonese (pip install pycantonese==5.0.0)")
    return [(w, j) for w, j in pc.characters_to_jyutping(text)]  # type: ignore[attr-defined]


def _longest_match(text: str, table: dict[str, str], max_len: int) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        for size in range(min(max_len, n - i), 0, -1):
            piece = text[i : i + size]
            if piece in table:
                out.append(table[piece])
                i += size
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_CLAUSE_END = set("。！？!?；;\n")
_PUNCTUATION = _CLAUSE_END | set("，,、：:「」『』（）()…—")


def _clause_ends_after(tokens: list[str], i: int) -> bool:
    """No word follows token ``i`` before the end of its clause (spaces skipped)."""
    for token in tokens[i + 1 :]:
        if token.strip():
            return token[0] in _CLAUSE_END
    return True


def _stands_alone(tokens: list[str], i: int, *, before: bool = True) -> bool:
    """Token ``i`` is a clause of its own: punctuation (or the text's edge) on both sides, spaces skipped.
    ``before=False``: only after it (the token ends a clause)."""
    left = next((t for t in reversed(tokens[:i]) if t.strip()), None)
    right = next((t for t in tokens[i + 1 :] if t.strip()), None)
    return (not before or left is None or left[-1] in _PUNCTUATION) and (right is None or right[0] in _PUNCTUATION)


def _in_context(tokens: list[str], i: int, context: dict[str, dict[str, str]]) -> tuple[str, int] | None:
    """The rewrite of token ``i`` (and maybe the next) decided by its neighbours, with how many tokens it
    covers; ``None`` when no contextual row applies."""
    pair = tokens[i] + tokens[i + 1] if i + 1 < len(tokens) else ""
    if pair in context["final"] and _stands_alone(tokens, i + 1, before=False):
        return context["final"][pair], 2  # 你也可以的。 → 你都可以㗎。 (not 可以嘅)
    if pair in context["pair"]:
        return context["pair"][pair], 2  # 不用的電器 → 唔用嘅電器 (not 唔使嘅: "no need")
    if tokens[i] in context["final"] and _stands_alone(tokens, i, before=False):
        return context["final"][tokens[i]], 1
    if tokens[i] in context["alone"] and _stands_alone(tokens, i):
        return context["alone"][tokens[i]], 1  # 不， as an answer ("No,") is 唔係， not 唔，
    return None


def _a_not_a(token: str, table: _Table) -> str | None:
    """An A-not-A question word (去不去, 是不是 when no row has it) with both halves rewritten."""
    if len(token) != 3 or token[1] != "不" or token[0] != token[2] or "不" not in table.tokens:
        return None
    half = table.tokens.get(token[0]) or table.anywhere.get(token[0]) or token[0]
    return half + table.tokens["不"] + half


def _rewrite(text: str, table: _Table, segmenter: Callable[[str], list[str] | None] | None) -> str:
    if not text:
        return text
    trad, simp = script_counts(text)
    simplified = simp > trad
    work = to_hant(text) if simplified else text
    tokens = segmenter(work) if segmenter is not None else None
    if tokens is None:
        # Longest match over everything; ordinary words (關係, 目的, 是否) map to themselves, so the
        # single characters inside them are not touched.
        result = _longest_match(work, table.greedy, table.max_len)
    else:
        out = []
        i = 0
        while i < len(tokens):
            token, covered = tokens[i], 1
            contextual = _in_context(tokens, i, table.context)
            if contextual is not None:
                rewritten, covered = contextual
            elif token == "了" and "了" in table.tokens and _clause_ends_after(tokens, i):
                rewritten = "喇"  # sentence-final 了 is a particle in Cantonese (就可以了 → 就得喇 / 可以喇)
            elif token in table.tokens:
                rewritten = table.tokens[token]
            elif token in table.anywhere:
                rewritten = table.anywhere[token]
            else:
                rewritten = _a_not_a(token, table) or _longest_match(token, table.within, table.max_len)
            out.append(rewritten)
            i += covered
        result = "".join(out)
    return to_hans(result) if simplified else result


def _pycantonese_segmenter() -> Callable[[str], list[str] | None] | None:
    return segment if _pycantonese() is not None else None


def yue_to_swc(text: str, *, use_segmenter: bool = True) -> str:
    """Replace Cantonese words with their usual SWC counterparts; drop sentence particles.

    「佢哋喺度睇緊電視」→「他們在看着電視」. Script is kept (Simplified input gives Simplified output).
    """
    return _rewrite(text, _tables()[0], _pycantonese_segmenter() if use_segmenter else None)


def swc_to_yue(text: str, *, use_segmenter: bool = True) -> str:
    """Replace SWC words with Cantonese ones: 「他們沒有看」→「佢哋冇睇」 (lexical only).

    Single characters (的, 是, 在, 了, 很) are replaced only when jieba gives them as whole words, so
    目的, 是否, 現在, 了解 and 多元 keep theirs; a clause-final 了 becomes 喇. Script is kept."""
    return _rewrite(text, _tables()[1], segment_swc if use_segmenter else None)


def alternatives(word: str) -> list[str]:
    """The other-variety counterparts of one word, both directions: 睇 -> [看], 看 -> [睇], 佢 -> [他, 她, 它]."""
    found: list[str] = []
    for row in lexicon():
        if row.yue == word:
            found.extend(row.swc)
        elif word in row.swc and not row.oneway and row.tag != "part" and row.tag not in CONTEXT_TAGS:
            found.append(row.yue)
    return list(dict.fromkeys(found))


def expand_query(query: str, *, use_segmenter: bool = True) -> list[str]:
    """The query plus its SWC and Cantonese renderings, without duplicates (original first).

    For retrieval over mixed Cantonese / SWC collections: search every variant (or OR them together).
    Script folding is the search normaliser's job (``normalize_for_search``), not this function's.
    """
    variants = [query, yue_to_swc(query, use_segmenter=use_segmenter), swc_to_yue(query)]
    return [v for v in dict.fromkeys(variants) if v.strip()]
