"""Properties of ``detect`` beyond single labels: confidence, proportions, script, bad input, length."""

from __future__ import annotations

import random

import pytest

from hkllm.lang import LABELS, LanguageGuess, detect
from hkllm.lang.detect import marker_hits


def test_result_shape() -> None:
    guess = detect("我聽日要submit份report")
    assert isinstance(guess, LanguageGuess)
    assert guess.label in LABELS
    d = guess.to_dict()
    assert {"label", "confidence", "script", "proportions", "mixed"} <= d.keys()


def test_code_mixed_cantonese_reports_english_share() -> None:
    guess = detect("我聽日要submit份report")
    assert guess.label == "yue"
    assert guess.mixed
    assert 0.2 < guess.proportions["en"] < 0.6
    assert guess.proportions["yue"] > guess.proportions["en"]


def test_english_with_chinese_name_reports_chinese_share() -> None:
    guess = detect("Please ask 陳大文 to call me back this afternoon.")
    assert guess.label == "en"
    assert 0 < guess.proportions.get("zh-Hant", 0) < 0.4


def test_mixed_cantonese_and_swc_document_has_both_shares() -> None:
    text = ("本署今日公布新的措施，市民可以在網上遞交申請，截止日期是下月底。"
            "我哋覺得呢個安排幾好，佢哋話聽日會再解釋多啲細節。")
    guess = detect(text)
    assert guess.mixed
    assert guess.proportions["yue"] > 0.25 and guess.proportions["zh-Hant"] > 0.25


@pytest.mark.parametrize(("text", "script"), [
    ("這是一個很好的問題", "Hant"), ("这是一个很好的问题", "Hans"), ("佢哋喺度", "Hant"),
    ("佢哋喺度食饭", "Hans"), ("Hello", "Latn"), ("", None),
])
def test_script(text: str, script: str | None) -> None:
    assert detect(text).script == script


def test_unmarked_chinese_is_low_confidence_and_neutral() -> None:
    guess = detect("銅鑼灣")
    assert guess.neutral and guess.confidence <= 0.6
    clear = detect("佢哋去咗邊度？")
    assert not clear.neutral and clear.confidence >= 0.9


def test_more_evidence_means_more_confidence() -> None:
    assert detect("係").confidence < detect("係咪真㗎？佢哋喺度等緊你。").confidence


def test_exceptions_swallow_markers() -> None:
    # 關係 is a standard word: its 係 is not Cantonese evidence; 其他 is not SWC evidence.
    assert [h for h in marker_hits("冇關係") if h[1] == "係"] == []
    assert marker_hits("其他") == []
    assert ("yue", "係", 3.0) in marker_hits("佢係老師")


def test_song_titles_are_not_the_writers_language() -> None:
    assert detect("我最鍾意《抬起我的頭來》呢首歌").label == "yue"


def test_long_document_is_fast_enough_and_labelled() -> None:
    para = "佢哋話聽日會落雨，記得帶遮呀。我哋約咗喺中環等。" * 5000  # ~120k characters
    guess = detect(para)
    assert guess.label == "yue" and guess.confidence > 0.9


@pytest.mark.parametrize("junk", [
    b"\xff\xfe\x00\x80garbage", bytes(range(256)), "\udcff lone surrogate", "\x00" * 100, "🙂" * 1000,
    "a" * 100_000, "\u200b\u200b", "ｚｚ",
])
def test_bad_input_never_raises(junk: str | bytes) -> None:
    guess = detect(junk)
    assert guess.label in LABELS


def test_random_unicode_never_raises() -> None:
    rng = random.Random(486)
    for _ in range(300):
        text = "".join(chr(rng.randrange(0, 0x2FFFF)) for _ in range(rng.randrange(0, 40)))
        text = text.encode("utf-8", "replace").decode("utf-8", "replace") if rng.random() < 0.5 else text
        assert detect(text).label in LABELS


def test_non_text_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        detect(123)  # type: ignore[arg-type]
