"""Acceptance figures on the real data sets in ../shared/data (skipped when absent).

The loaders and scorer are the benchmark's own (bench/lang_accuracy.py), so the test and the published
figures measure the same thing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"

pytestmark = pytest.mark.skipif(not (DATA / "ud-hk-yue-zh-parallel").is_dir(), reason="shared data not present")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lang_accuracy", ROOT / "bench" / "lang_accuracy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ud_parallel_accuracy(bench: ModuleType) -> None:
    items, pairs, left_out = bench.load_ud(DATA)
    assert pairs > 600 and 0 < left_out < pairs * 0.1
    result = bench.score(items, bench.ours, ["yue", "zh-Hant"])
    assert result["accuracy"] >= 0.97, result
    for cls in ("yue", "zh-Hant"):
        assert result["per_class"][cls]["precision"] >= 0.95
        assert result["per_class"][cls]["recall"] >= 0.95


def test_ahead_of_cantonesedetect_on_yue_vs_zh(bench: ModuleType) -> None:
    baseline = bench.cantonesedetect_fn()
    if baseline is None:
        pytest.skip("cantonesedetect not installed")
    items, _, _ = bench.load_ud(DATA)
    assert bench.score(items, bench.ours, [])["accuracy"] > bench.score(items, baseline, [])["accuracy"]


def test_yue_trans(bench: ModuleType) -> None:
    if not (DATA / "yue-benchmark" / "Yue-TRANS").is_dir():
        pytest.skip("Yue-TRANS not present")
    items = bench.load_yue_trans(DATA)
    assert {g for _, g, _ in items} == {"yue", "zh-Hans", "en"}
    assert bench.score(items, bench.ours, [])["accuracy"] >= 0.97


def test_traditional_vs_simplified(bench: ModuleType) -> None:
    items, _, _ = bench.load_ud(DATA)
    zh = [(t, g, s) for t, g, s in items if g == "zh-Hant" and bench.to_hans(t) != t]
    both = zh + [(bench.to_hans(t), "zh-Hans", s) for t, _, s in zh]
    assert len(both) > 800
    assert bench.score(both, bench.ours, [])["accuracy"] >= 0.99
