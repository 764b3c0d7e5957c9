"""Script conversion, script evidence and the search normaliser, on tables of Hong Kong text."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest

from hkllm.lang import convert, normalize_for_search, script_counts, to_hans, to_hant
from hkllm.lang.convert import build_script_tables, to_hant_full

TO_HANT = [
    ("我们在吃饭", "我們在吃飯"),
    ("头发干净", "頭髮乾淨"),
    ("后来他去了台湾", "後來他去了台灣"),
    ("这个系统很好", "這個系統很好"),
    ("请于办公时间内致电本署", "請於辦公時間內致電本署"),
    ("香港特别行政区", "香港特別行政區"),
    # already Traditional / Cantonese: untouched (plain s2hk would write 曬, 嚇, 隻, 樑)
    ("佢哋走晒喇", "佢哋走晒喇"),
    ("你試吓先", "你試吓先"),
    ("梁先生只係問吓", "梁先生只係問吓"),
    ("這個說法", "這個說法"),
    # mixed clause: only the Simplified-only characters change
    ("這個问题很重要", "這個問題很重要"),
    # mixed text: each clause on its own
    ("我們在吃饭，头发干净", "我們在吃飯，頭髮乾淨"),
    ("Hello 世界", "Hello 世界"),
    ("", ""),
]

TO_HANS = [
    ("我們在吃飯", "我们在吃饭"),
    ("頭髮乾淨", "头发干净"),
    ("佢哋喺度睇緊電視", "佢哋喺度睇紧电视"),
    ("綫路", "线路"),  # HK variant
    ("裏面", "里面"),
    ("Hello", "Hello"),
]


@pytest.mark.parametrize(("src", "want"), TO_HANT)
def test_to_hant(src: str, want: str) -> None:
    assert to_hant(src) == want


@pytest.mark.parametrize(("src", "want"), TO_HANS)
def test_to_hans(src: str, want: str) -> None:
    assert to_hans(src) == want


def test_plain_s2hk_would_damage_cantonese() -> None:
    # The reason to_hant is careful: this is what OpenCC does to text that is already Traditional.
    assert to_hant_full("佢哋走晒喇") != "佢哋走晒喇"


@pytest.mark.parametrize(("target", "src", "want"), [
    ("zh-Hant", "简体字", "簡體字"), ("zh-Hans", "繁體字", "繁体字"), ("hant", "简体", "簡體"), ("zh-CN", "繁體", "繁体"),
])
def test_convert_targets(target: str, src: str, want: str) -> None:
    assert convert(src, target) == want


def test_convert_rejects_unknown_target() -> None:
    with pytest.raises(ValueError, match="zh-Hant or zh-Hans"):
        convert("字", "klingon")


@pytest.mark.parametrize(("text", "trad", "simp"), [
    ("這是問題", 3, 0), ("这是问题", 0, 3), ("你好", 0, 0), ("什么", 0, 1), ("什麼", 1, 0),
    ("佢哋走晒", 0, 0), ("着", 0, 0), ("Hello", 0, 0), ("\x01\x02這", 1, 0),
])
def test_script_counts(text: str, trad: int, simp: int) -> None:
    assert script_counts(text) == (trad, simp)


NORMALISE = [
    ("香港政府", "香港政府", True),
    ("香港特別行政區", "香港特别行政区", True),  # Traditional vs Simplified
    ("ＨＫＩＤ　申請", "hkid 申請", True),  # full width
    ("「通知」", '"通知"', True),  # quotes
    ("申請。", "申請.", True),
    ("裏面", "裡面", True),  # variants
    ("綫路", "線路", True),
    ("搵工", "揾工", True),
    ("噉樣", "咁樣", True),
    ("MTR  Station", "mtr station", True),
    ("香港", "澳門", False),
]


@pytest.mark.parametrize(("a", "b", "same"), NORMALISE)
def test_normalize_for_search(a: str, b: str, same: bool) -> None:
    assert (normalize_for_search(a) == normalize_for_search(b)) is same


def test_normalize_is_idempotent() -> None:
    for a, b, _ in NORMALISE:
        for text in (a, b):
            once = normalize_for_search(text)
            assert normalize_for_search(once) == once


def test_normalize_empty() -> None:
    assert normalize_for_search("") == ""
    assert normalize_for_search("　 \n") == ""


def test_shipped_script_tables_match_installed_opencc() -> None:
    import opencc

    tool = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"
    if not tool.is_file() and not shutil.which("opencc_dict"):
        pytest.skip("opencc_dict tool not shipped with this OpenCC build")
    module = importlib.import_module("hkllm.lang.convert")
    shipped = json.loads(Path(module.__file__).with_name("script_chars.json").read_text(encoding="utf-8"))
    fresh = build_script_tables()
    assert fresh["trad_only"] == shipped["trad_only"]
    assert fresh["simp_only"] == shipped["simp_only"]
