"""The in-memory vector index: per-language views of bilingual provisions, slices, filters."""

from __future__ import annotations

import numpy as np
import pytest

import hkllm.kb.store.vectors as vi
from hkllm.kb.embed.base import EMBED_DIM
from hkllm.kb.store.vectors import VectorIndex, view_layout

# (langs, groups) -> (row order, views). Blocks: [English with a Chinese version | the rest | Chinese
# with an English version]; stable inside each block.
LAYOUT_CASES = [
    pytest.param(["en", "zh-Hant"], ["s1", "s1"], [0, 1], {"en": (0, 1), "zh-Hant": (1, 2)}, id="one pair"),
    pytest.param(["zh-Hant", "en"], ["s1", "s1"], [1, 0], {"en": (0, 1), "zh-Hant": (1, 2)}, id="pair, zh first"),
    pytest.param(["en", "en", "zh-Hant"], [None, "s2", None], [0, 1, 2], {"en": (0, 3), "zh-Hant": (0, 3)},
                 id="nothing aligned: every query scans every row"),
    pytest.param(["en", "zh-Hant", "en", "zh-Hant", "zh-Hans", "en", "zh-Hant"],
                 ["g1", "g1", None, "g2", "g1", "g3", "g3"], [0, 5, 2, 3, 4, 1, 6],
                 {"en": (0, 5), "zh-Hant": (2, 7)}, id="mixed: singles and a third language stay in both"),
    pytest.param(["en", "en", "zh-Hant"], ["g1", "g1", "g1"], [0, 1, 2], {"en": (0, 2), "zh-Hant": (2, 3)},
                 id="two English rows of one provision"),
    pytest.param([], [], [], {"en": (0, 0), "zh-Hant": (0, 0)}, id="empty"),
]


@pytest.mark.parametrize(("langs", "groups", "order", "views"), LAYOUT_CASES)
def test_view_layout(langs: list[str], groups: list[str | None], order: list[int],
                     views: dict[str, tuple[int, int]]) -> None:
    got_order, got_views = view_layout(langs, groups)
    assert got_order.tolist() == order
    assert got_views == views


def _rows(specs: list[tuple[int, str, str | None, bool]], vectors: np.ndarray) -> list[tuple]:
    """(id, doc id, current, blob, kind, lang, collection, cap) rows as the SQLite store reads them."""
    return [(uid, 1, current, vectors[i].astype("<f4").tobytes(), "legislation", lang, "default", "486")
            for i, (uid, lang, _group, current) in enumerate(specs)]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, EMBED_DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_views_scan_one_version_of_each_provision_and_every_single() -> None:
    rng = np.random.default_rng(0)
    specs = [(10, "en", "s1", True), (11, "zh-Hant", "s1", True), (12, "en", None, True),
             (13, "zh-Hant", "s3", True), (14, "en", "s4", True), (15, "zh-Hant", "s4", True)]
    vectors = _unit(rng, len(specs))
    index = VectorIndex.from_rows(_rows(specs, vectors), ("kind", "lang", "collection", "cap"),
                                  [s[2] for s in specs])
    everything = {uid for uid, _ in index.search(vectors[0], 10)}
    english = {uid for uid, _ in index.search(vectors[0], 10, view="en")}
    chinese = {uid for uid, _ in index.search(vectors[0], 10, view="zh-Hant")}
    assert everything == {10, 11, 12, 13, 14, 15}
    assert english == {10, 12, 13, 14}  # the Chinese-only s3 and the unaligned row stay
    assert chinese == {11, 12, 13, 15}
    assert {uid for uid, _ in index.search(vectors[0], 10, view="fr")} == everything  # unknown: all
    # scores are the exact cosines, whatever the view
    by_id = dict(index.search(vectors[1], 10, view="zh-Hant"))
    assert by_id[11] == pytest.approx(1.0, abs=1e-5)
    assert by_id[13] == pytest.approx(float(vectors[3] @ vectors[1]), abs=1e-5)


def test_a_current_version_is_not_hidden_behind_a_superseded_translation() -> None:
    rng = np.random.default_rng(1)
    # the English version is current, its Chinese counterpart was superseded (a newer Chinese text exists)
    specs = [(1, "en", "s1", True), (2, "zh-Hant", "s1", False), (3, "zh-Hant", "s1-new", True)]
    vectors = _unit(rng, 3)
    index = VectorIndex.from_rows(_rows(specs, vectors), ("kind", "lang", "collection", "cap"),
                                  [s[2] for s in specs])
    assert {uid for uid, _ in index.search(vectors[0], 5, view="zh-Hant")} == {1, 3}
    assert {uid for uid, _ in index.search(vectors[0], 5, view="zh-Hant", current_only=False)} == {1, 2, 3}


def test_filters_apply_inside_a_view() -> None:
    rng = np.random.default_rng(2)
    specs = [(1, "en", "a", True), (2, "zh-Hant", "a", True), (3, "en", None, True)]
    vectors = _unit(rng, 3)
    rows = [r[:7] + (cap,) for r, cap in zip(_rows(specs, vectors), ("486", "486", "1"), strict=True)]
    index = VectorIndex.from_rows(rows, ("kind", "lang", "collection", "cap"), [s[2] for s in specs])
    assert [uid for uid, _ in index.search(vectors[0], 5, view="en", equals={"cap": "1"})] == [3]
    assert index.search(vectors[0], 5, view="zh-Hant", equals={"cap": "999"}) == []
    assert [uid for uid, _ in index.search(vectors[0], 5, view="zh-Hant", equals={"lang": "zh-Hant"})] == [2]


def test_sliced_and_single_thread_scans_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vi, "SPLIT_ROWS", 100)
    rng = np.random.default_rng(3)
    n = 1000
    specs = [(i, "en" if i % 2 else "zh-Hant", f"p{i // 2}" if i < 600 else None, True) for i in range(n)]
    vectors = _unit(rng, n)
    index = VectorIndex.from_rows(_rows(specs, vectors), ("kind", "lang", "collection", "cap"),
                                  [s[2] for s in specs])
    query = vectors[7]
    for view in (None, "en", "zh-Hant"):
        two = index.search(query, 50, view=view, threads=2)
        one = index.search(query, 50, view=view, threads=1)
        assert [u for u, _ in two] == [u for u, _ in one]
        assert np.allclose([s for _, s in two], [s for _, s in one])
    start, stop = index.views["en"]
    assert np.allclose(index.scores(query, start, stop, threads=2), index.matrix[start:stop] @ query)
