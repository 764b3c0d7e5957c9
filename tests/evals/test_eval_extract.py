"""Answer extraction tables: option letters and final numbers in Cantonese, Mandarin and English."""

from __future__ import annotations

import pytest

from hkllm.evals.extract import (
    canonical_number,
    chinese_to_int,
    extract_choice,
    extract_number,
    numbers_equal,
)

OPTIONS = {"A": "建築會建得更快", "B": "建築會變得更安全", "C": "建築設計會變得更靚", "D": "建築材料會變得更平"}

# (reply, expected letter or None)
CHOICE_CASES = [
    # Cantonese
    ("答案係 B", "B"),
    ("答案係B嘅", "B"),
    ("我揀 C 呀", "C"),
    ("應該揀 D", "D"),
    ("答案應該係 (A) 喎", "A"),
    ("B 係啱嘅", "B"),
    ("我覺得係 C", "C"),
    ("第二個選項", "B"),
    ("答案係「A」", "A"),
    ("建築會變得更安全", "B"),  # the option's text only
    ("係咪 A 定 B 呀？", None),
    ("我唔知", None),
    ("答案係 E", None),  # not an option here
    # Mandarin, Traditional and Simplified
    ("選B", "B"),
    ("选B", "B"),
    ("正确答案是D。", "D"),
    ("正確答案為 (C)", "C"),
    ("答案应该是 A", "A"),
    ("应选B", "B"),
    ("C正確", "C"),
    ("【答案】B", "B"),
    ("答案：Ａ", "A"),  # full-width letter
    ("（Ｄ）", "D"),
    ("选项 C", "C"),
    ("A 和 B 都對", None),
    # English
    ("The answer is (B)", "B"),
    ("The answer is B.", "B"),
    ("Answer: c", "C"),
    ("answer: b", "B"),
    ("I think the answer is D because the others are wrong.", "D"),
    ("Option A is wrong, the correct answer is C", "C"),
    ("The correct answer is: **B**", "B"),
    ("**Answer:** D", "D"),
    ("It must be B.", "B"),
    ("B is correct.", "B"),
    ("B. 建築會變得更安全", "B"),
    ("(A)", "A"),
    ("D", "D"),
    ("A and B", None),
    ("the answer is a dog", None),
    ("Neither", None),
    ("", None),
]


@pytest.mark.parametrize(("reply", "expected"), CHOICE_CASES)
def test_extract_choice(reply: str, expected: str | None) -> None:
    assert extract_choice(reply, "ABCD", OPTIONS) == expected


def test_choice_table_is_large_enough() -> None:
    assert len(CHOICE_CASES) >= 30


def test_five_options_and_missing_letters() -> None:
    assert extract_choice("答案係 E", "ABCDE") == "E"
    assert extract_choice("The answer is (E).", "ABCDE") == "E"
    assert extract_choice("答案係 A", "BCD") is None  # option A was left out of the question


# (reply, expected number or None)
NUMBER_CASES = [
    ("答案係 18", "18"),
    ("Janet每日賣16-3-4=9隻蛋。佢每日賺$9*2=18。####18", "18"),
    ("所以佢賺 $18。", "18"),
    ("\\boxed{42}", "42"),
    ("答案係十八", "18"),
    ("答案是兩百零五", "205"),
    ("The answer is 1,875.", "1875"),
    ("1,875元", "1875"),
    ("總共 88 000 元", "88000"),
    ("佢有 3 個，再加 5 個，答案：8 個", "8"),
    ("答案係 18.", "18"),
    ("= 2.50", "2.5"),
    ("溫度跌到 -3 度", "-3"),
    ("最終答案：１２", "12"),  # full-width digits
    ("答案係 7\n\n問題：下一題有 99 個", "7"),
    ("沒有答案", None),
    ("", None),
]


@pytest.mark.parametrize(("reply", "expected"), NUMBER_CASES)
def test_extract_number(reply: str, expected: str | None) -> None:
    assert extract_number(reply) == expected


@pytest.mark.parametrize(("text", "value"), [("十", 10), ("十八", 18), ("二十", 20), ("一百零五", 105),
                                            ("三萬", 30000), ("兩千三百", 2300), ("十八個", None)])
def test_chinese_numerals(text: str, value: int | None) -> None:
    assert chinese_to_int(text) == value


def test_number_comparison() -> None:
    assert canonical_number("18.00") == "18"
    assert numbers_equal("18", "18.0")
    assert not numbers_equal(None, "18")
    assert not numbers_equal("17", "18")
