"""Metrics on Chinese and English text: identical text scores 1, disjoint text 0."""

from __future__ import annotations

import pytest

from hkllm.evals.metrics import accuracy, corpus_bleu, corpus_chrf, rouge_l, sentence_bleu, tokenize

YUE = "佢哋聽日會去維多利亞公園睇花展。"


def test_tokenize_splits_cjk_characters_and_keeps_words() -> None:
    assert tokenize("我用 iPhone 15 影相。") == ["我", "用", "iphone", "15", "影", "相"]


@pytest.mark.parametrize("lang", ["yue", "zh", "en"])
def test_identical_and_disjoint(lang: str) -> None:
    text = YUE if lang != "en" else "They will visit the flower show in Victoria Park tomorrow."
    assert corpus_bleu([text], [text], lang) == pytest.approx(1.0)
    assert corpus_bleu(["∅"], [text], lang) == 0.0
    assert sentence_bleu(text, [text], lang) == pytest.approx(1.0)
    assert corpus_chrf([text], [text]) == pytest.approx(1.0)
    assert corpus_chrf(["∅"], [text]) == 0.0
    assert rouge_l(text, [text]) == pytest.approx(1.0)
    assert rouge_l("∅", [text]) == 0.0


def test_chinese_bleu_is_character_level() -> None:
    # Without the zh tokenizer a space-less sentence is one token and any difference scores 0.
    partial = corpus_bleu(["佢哋聽日會去維多利亞公園睇煙花。"], [YUE], "yue")
    assert 0.3 < partial < 1.0
    assert 0.3 < rouge_l("佢哋聽日會去維多利亞公園睇煙花。", [YUE]) < 1.0


def test_rouge_takes_best_reference() -> None:
    assert rouge_l("西瓜核會經過你嘅消化系統", ["冇咩事", "西瓜核會經過你嘅消化系統"]) == pytest.approx(1.0)


def test_accuracy() -> None:
    assert accuracy([True, False, None, True]) == 0.5
    assert accuracy([]) == 0.0
