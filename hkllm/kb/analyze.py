"""Text analysis for the knowledge base, the same for stored text and queries.

The language layer's search normaliser (NFKC, case, punctuation, Traditional → Simplified pivot, HK
variants: ``lang.convert.normalize_for_search``), then jieba's search-mode cut on runs of Chinese
characters and S-stemmed ``\\w+`` words elsewhere, so ``unicode61`` in FTS5 (or ``to_tsvector('simple')``
in PostgreSQL) sees whitespace-separated words. Simplified and Traditional queries therefore meet the same
index terms. Queries with Chinese characters are also rewritten from Cantonese into Standard Written
Chinese (``lang.cantonese.yue_to_swc``) and both forms' words are searched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hkllm.lang.cantonese import jieba_module, yue_to_swc
from hkllm.lang.convert import normalize_for_search

JIEBA_HMM = True

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_CJK_RUN_RE = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+)")
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """The search normaliser applied to both stored text and queries."""
    return normalize_for_search(text)


def s_stem(word: str) -> str:
    """Harman's "S" stemmer (plurals only: notices → notice, parties → party, access stays): conservative,
    and done here rather than by FTS5's porter so the terms in the index are the terms we look up."""
    if len(word) < 4 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def tokens(text: str, *, normalised: bool = False) -> list[str]:
    """Index/query words: jieba's search-mode cut on runs of Chinese characters, ``\\w+`` (S-stemmed)
    elsewhere (running jieba over English text is slow and gains nothing)."""
    if not normalised:
        text = normalise(text)
    out: list[str] = []
    for i, part in enumerate(_CJK_RUN_RE.split(text)):
        if i % 2:
            out.extend(t for t in jieba_module().cut_for_search(part, HMM=JIEBA_HMM) if t.strip())
        elif part:
            out.extend(s_stem(w) for w in _WORD_RE.findall(part))
    return out


def index_text(text: str) -> str:
    """The whitespace-tokenised form stored in ``kb_unit.search_text``."""
    return " ".join(tokens(text))


def to_swc(text: str) -> str:
    """The language layer's Cantonese → Standard Written Chinese rewrite (``cantonese.yue_to_swc``)."""
    return yue_to_swc(text)


STOPWORDS = frozenset(
    "a an the of to in on for by with at from and or not is are be been was were do does did can could may "
    "might must shall should will would what which who whom whose when where why how i me my you your he "
    "she it its we our they their this that these those there any if as than then so about under into "
    "的 了 是 吗 呢 吧 啊 呀 么 在 和 与 及 或 把 被 对 就 都 也 还 又 我 你 他 她 它 我们 你们 他们 有 没有 "
    "什么 怎样 怎么 如何 为什么 哪里 谁 多少 一些 这样 这个 那个 嘅 咗 啲 唔 冇 喺 佢 咩 乜嘢 点样 噉 咁".split()
)


def query_terms(text_norm: str, variants: Sequence[str] = ()) -> list[str]:
    """Distinct BM25 terms of a normalised query and its expansions, stopwords dropped."""
    seen: dict[str, None] = {}
    for source in (text_norm, *variants):
        for tok in tokens(source, normalised=True):
            if tok not in STOPWORDS:
                seen.setdefault(tok, None)
    return list(seen)
