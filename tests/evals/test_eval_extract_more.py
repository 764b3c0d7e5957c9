"""More Hong Kong reply formats for answer extraction, and the metrics on mixed Cantonese/English tokens."""

from __future__ import annotations

import pytest

from hkllm.evals.extract import (
    canonical_number,
    chinese_to_int,
    extract_choice,
    extract_number,
    numbers_equal,
)
from hkllm.evals.metrics import (
    accuracy,
    bleu_tokenizer,
    corpus_bleu,
    corpus_chrf,
    rouge_l,
    sentence_bleu,
    tokenize,
)

OPTIONS = {"A": "深井", "B": "中環", "C": "灣仔", "D": "旺角"}

CHOICES = [
    ("我覺得係 深井 呀", "A"),  # the option's text, spaced
    ("答：D", "D"),
    ("答案: (b)", "B"),
    ("正確答案係C，因為……", "C"),
    ("梗係B啦", "B"),
    ("我會揀 A", "A"),
    ("揀A", "A"),
    ("D. 旺角", "D"),
    ("旺角", "D"),
    ("中環同灣仔", None),  # two options' texts: no answer
    ("答案係 B。下一題：答案係 C", "B"),  # the first answer phrase counts
    ("Answer: A\nQuestion 2 ... Answer: D", "A"),
    ("选项B是正确的", "B"),
    ("B 啱", "B"),
    ("B對", "B"),
    ("答案係「D」嘅", "D"),
    ("**C**", "C"),
    ("答案：Ｂ．中環", "B"),  # full width
    ("(Ｃ)", "C"),
    ("I'd say B", "B"),
    ("The correct option is D.", "D"),
    ("option d", "D"),
    ("答案係第三個選項", "C"),
    ("第4項", "D"),
    ("Both A and C are wrong; the answer is B", "B"),
    ("a", None),  # a lone lower-case letter is an English article, not an answer
    ("我唔肯定😅", None),
    ("   ", None),
]


@pytest.mark.parametrize(("reply", "letter"), CHOICES)
def test_extract_choice_hk_replies(reply: str, letter: str | None) -> None:
    assert extract_choice(reply, "ABCD", OPTIONS) == letter


def test_option_text_needs_the_options() -> None:
    assert extract_choice("旺角", "ABCD", OPTIONS) == "D"
    assert extract_choice("旺角", "ABCD") is None
    assert extract_choice("第五個選項", "ABCD") is None  # beyond the options given


NUMBERS = [
    ("答案係 1,234", "1234"),
    ("答案係 -5", "-5"),
    ("答案係 3.50", "3.5"),
    ("####  72", "72"),
    ("\\boxed{ 1,000 }", "1000"),
    ("佢有三個蘋果，食咗一個，剩返兩個。答案係二", "2"),
    ("答案係兩萬", "20000"),
    ("總共 $1,234.50", "1234.5"),
    ("最終答案係 ４２ 個", "42"),
    ("Answer: approximately 7.5", "7.5"),
    ("答案約 12", "12"),
    ("答案係一萬零五", "10005"),
    ("問題1的答案是5，問題2的答案是6", "6"),  # the last answer phrase
    ("冇數字", None),
]


@pytest.mark.parametrize(("reply", "number"), NUMBERS)
def test_extract_number_hk_replies(reply: str, number: str | None) -> None:
    assert extract_number(reply) == number


@pytest.mark.parametrize(("text", "value"), [("一萬零五", 10005), ("十萬", 100000), ("兩百", 200), ("零", 0),
                                             ("百", 100), ("", None), ("五十六個", None)])
def test_chinese_numerals_more(text: str, value: int | None) -> None:
    assert chinese_to_int(text) == value


@pytest.mark.parametrize(("raw", "canon"), [("-0", "0"), ("1e3", "1000"), ("abc", "abc"), ("2.50", "2.5"),
                                            ("0.1", "0.1"), ("1,000", "1000")])
def test_canonical_numbers(raw: str, canon: str) -> None:
    assert canonical_number(raw) == canon


@pytest.mark.parametrize(("pred", "gold", "equal"), [("abc", "abc ", True), ("1e3", "1000", True),
                                                     ("18", "18.0000001", True), ("18", "18.01", False),
                                                     ("十八", "18", False), (None, "0", False)])
def test_numbers_equal(pred: str | None, gold: str, equal: bool) -> None:
    assert numbers_equal(pred, gold) is equal


# ---------------------------------------------------------------- metrics


def test_tokenize_mixed_scripts() -> None:
    assert tokenize("HK$1,234.50 喺荃灣！_x_ こんにちは 한국 𠵱家") == [
        "hk", "1", "234", "50", "喺", "荃", "灣", "x", "こ", "ん", "に", "ち", "は", "한", "국", "𠵱", "家"]
    assert tokenize("") == [] and tokenize(None) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(("lang", "tok"), [("EN", "13a"), ("eng", "13a"), ("english", "13a"), ("zh-Hant", "zh"),
                                           ("yue", "zh"), ("zh-Hans", "zh")])
def test_bleu_tokenizer(lang: str, tok: str) -> None:
    assert bleu_tokenizer(lang) == tok


def test_empty_inputs_score_zero() -> None:
    assert rouge_l("", ["a"]) == 0.0 and rouge_l("a", []) == 0.0 and rouge_l("a", ["", "。"]) == 0.0
    assert sentence_bleu("", ["x"], "en") == 0.0 and sentence_bleu("x", [""], "en") == 0.0
    assert corpus_bleu([], [], "en") == 0.0 and corpus_chrf([], []) == 0.0
    assert accuracy([None, None]) == 0.0


def test_rouge_ignores_case_spacing_and_punctuation() -> None:
    assert rouge_l("我今日好busy！", ["我今日好 BUSY"]) == pytest.approx(1.0)
    assert rouge_l("佢哋去咗荃灣", ["荃灣佢哋去咗"]) == pytest.approx(2 / 3)  # order matters (LCS)


def test_sentence_bleu_scores_short_cantonese_sentences() -> None:
    assert sentence_bleu("佢哋去咗荃灣", ["佢哋去咗荃灣"], "yue") == pytest.approx(1.0)
    partial = sentence_bleu("佢哋去咗旺角", ["佢哋去咗荃灣"], "yue")
    assert 0.0 < partial < 1.0
    assert sentence_bleu("佢哋去咗旺角", ["唔關事", "佢哋去咗荃灣"], "yue") == pytest.approx(partial)  # best reference

