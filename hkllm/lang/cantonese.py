"""Cantonese <-> Standard Written Chinese (SWC) lexical mapping, segmentation and Jyutping.

The correspondences are data (``yue_swc.tsv``: 嘅/的, 係/是, 唔/不, 佢/他, 冇/沒有, 喺/在, 咗/了, 睇/看,
哋/們 ...). ``yue_to_swc`` and ``swc_to_yue`` rewrite word by word over pycantonese's segmentation, so
that 係 in 關係 or 的 in 目的 stay as they are. It is lexical substitution, not translation: good for
search-query expansion (``expand_query``) and as the translation app's glossary, not as output prose.

pycantonese is imported on first use (it takes about a second). Without it (or with
``use_segmenter=False``) the rewrite is a longest match over the raw text in which the detector's
exception words (關係, 目的, 是否 ...) map to themselves, so the characters inside them stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hkllm.lang.convert import script_counts, to_hans, to_hant
from hkllm.lang.detect import exception_words

_DATA = Path(__file__).with_name("yue_swc.tsv")


@dataclass(frozen=True, slots=True)
class Correspondence:
    """One row of the lexicon. ``swc`` is empty for sentence particles (dropped in SWC)."""

    yue: str
    swc: tuple[str, ...]
    tag: str  # word | token | part
    oneway: bool = False


@cache
def lexicon() -> tuple[Correspondence, ...]:
    rows = []
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        yue, swc, tag, *flags = line.split("\t")
        if tag not in ("word", "token", "part"):
            raise ValueError(f"{_DATA.name}: unknown tag {tag!r} for {yue!r}")
        rows.append(Correspondence(yue, tuple(s for s in swc.split("|") if s), tag, "oneway" in flags))
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class _Table:
    anywhere: dict[str, str]  # replaced wherever found (longest match)
    tokens: dict[str, str]  # replaced only as a whole token (with the segmenter)
    greedy: dict[str, str]  # without the segmenter: everything, plus protected words mapped to themselves
    max_len: int


def _table(anywhere: dict[str, str], tokens: dict[str, str]) -> _Table:
    protected = {w: w for w in exception_words() if w not in anywhere and w not in tokens}
    greedy = {**protected, **tokens, **anywhere}
    return _Table(anywhere, tokens, greedy, max(len(k) for k in greedy))


@cache
def _tables() -> tuple[_Table, _Table]:
    """(yue -> SWC, SWC -> yue)."""
    to_swc_any: dict[str, str] = {}
    to_swc_tok: dict[str, str] = {}
    to_yue_any: dict[str, str] = {}
    to_yue_tok: dict[str, str] = {}
    for row in lexicon():
        target = row.swc[0] if row.swc else ""
        (to_swc_any if row.tag == "word" else to_swc_tok).setdefault(row.yue, target)
        if row.oneway or row.tag == "part":
            continue
        for swc in row.swc:
            # A single SWC character (的, 是, 在) is too often part of another word: whole tokens only.
            (to_yue_tok if len(swc) == 1 or row.tag == "token" else to_yue_any).setdefault(swc, row.yue)
    return _table(to_swc_any, to_swc_tok), _table(to_yue_any, to_yue_tok)


@cache
def _pycantonese() -> object | None:
    try:
        import pycantonese
    except ImportError:
        return None
    return pycantonese


def segment(text: str) -> list[str]:
    """Cantonese word segmentation (pycantonese); without pycantonese, the text as one token."""
    pc = _pycantonese()
    if pc is None or not text:
        return [text] if text else []
    return list(pc.segment(text))  # type: ignore[attr-defined]


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


def _rewrite(text: str, table: _Table, *, use_segmenter: bool) -> str:
    if not text:
        return text
    trad, simp = script_counts(text)
    simplified = simp > trad
    work = to_hant(text) if simplified else text
    if use_segmenter and _pycantonese() is not None:
        out = []
        for token in segment(work):
            if token in table.tokens:
                out.append(table.tokens[token])
            elif token in table.anywhere:
                out.append(table.anywhere[token])
            else:
                out.append(_longest_match(token, table.anywhere, table.max_len))
        result = "".join(out)
    else:
        # Longest match over everything; ordinary words (關係, 目的, 是否) map to themselves, so the
        # single characters inside them are not touched.
        result = _longest_match(work, table.greedy, table.max_len)
    return to_hans(result) if simplified else result


def yue_to_swc(text: str, *, use_segmenter: bool = True) -> str:
    """Replace Cantonese words with their usual SWC counterparts; drop sentence particles.

    「佢哋喺度睇緊電視」→「他們在看着電視」. Script is kept (Simplified input gives Simplified output).
    """
    return _rewrite(text, _tables()[0], use_segmenter=use_segmenter)


def swc_to_yue(text: str, *, use_segmenter: bool = False) -> str:
    """Replace SWC words with Cantonese ones: 「他們沒有看」→「佢哋冇睇」 (lexical only).

    pycantonese segments Cantonese, not SWC, so by default this uses longest match with the
    exception words of the detector's lexicon (目的, 是否, 了解 ...) protected."""
    return _rewrite(text, _tables()[1], use_segmenter=use_segmenter)


def alternatives(word: str) -> list[str]:
    """The other-variety counterparts of one word, both directions: 睇 -> [看], 看 -> [睇], 佢 -> [他, 她, 它]."""
    found: list[str] = []
    for row in lexicon():
        if row.yue == word:
            found.extend(row.swc)
        elif word in row.swc and not row.oneway and row.tag != "part":
            found.append(row.yue)
    return list(dict.fromkeys(found))


def expand_query(query: str, *, use_segmenter: bool = True) -> list[str]:
    """The query plus its SWC and Cantonese renderings, without duplicates (original first).

    For retrieval over mixed Cantonese / SWC collections: search every variant (or OR them together).
    Script folding is the search normaliser's job (``normalize_for_search``), not this function's.
    """
    variants = [query, yue_to_swc(query, use_segmenter=use_segmenter), swc_to_yue(query)]
    return [v for v in dict.fromkeys(variants) if v.strip()]
