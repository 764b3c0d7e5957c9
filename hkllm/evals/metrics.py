"""Metrics: accuracy, BLEU and chrF (``sacrebleu``), ROUGE-L (``rouge-score``).

Chinese text has no spaces, so BLEU uses sacrebleu's ``zh`` tokenizer (every CJK character is a token)
when the target is Chinese or Cantonese and ``13a`` for English; ROUGE-L runs on the same kind of
tokens (CJK characters, Latin words, numbers) through a custom tokenizer for ``rouge-score``, whose own
tokenizer would drop every Chinese character. All functions return values in 0-1.

``sacrebleu`` and ``rouge-score`` come with the ``eval`` extra (``pip install 'hkllm[eval]'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from hkllm.errors import HkllmError


class MetricsUnavailable(HkllmError):
    status = 501
    type = "server_error"
    code = "metrics_unavailable"


_TOKEN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]"  # one CJK character
    r"|[\u3040-\u30ff\uac00-\ud7af]"  # kana, hangul syllables
    r"|[^\W_]+",  # a Latin word or a number
)


def tokenize(text: str) -> list[str]:
    """CJK characters one by one, Latin words and numbers whole, lower-cased; punctuation dropped."""
    return [t.lower() for t in _TOKEN.findall(text or "")]


def bleu_tokenizer(lang: str) -> str:
    """sacrebleu tokenizer for a target language code (yue, zh, zh-Hant, zh-Hans, en, eng)."""
    return "13a" if lang.lower() in {"en", "eng", "english"} else "zh"


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MetricsUnavailable("BLEU/chrF need sacrebleu: pip install 'hkllm[eval]'") from exc
    return sacrebleu


def accuracy(flags: Sequence[bool | None]) -> float:
    return sum(1 for f in flags if f) / len(flags) if flags else 0.0


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str) -> float:
    """Corpus BLEU-4 (one reference per hypothesis), 0-1."""
    if not hypotheses:
        return 0.0
    sb = _sacrebleu()
    bleu = sb.metrics.BLEU(tokenize=bleu_tokenizer(lang))
    return _clamp(bleu.corpus_score(list(hypotheses), [list(references)]).score / 100)


def sentence_bleu(hypothesis: str, references: Sequence[str], lang: str) -> float:
    """Sentence BLEU-4 with effective order (short sentences are not zeroed by missing 4-grams), 0-1."""
    refs = [r for r in references if r]
    if not hypothesis.strip() or not refs:
        return 0.0
    bleu = _sentence_bleu_metric(bleu_tokenizer(lang))
    return _clamp(bleu.sentence_score(hypothesis, refs).score / 100)


@lru_cache(maxsize=4)
def _sentence_bleu_metric(tokenizer: str) -> Any:
    return _sacrebleu().metrics.BLEU(tokenize=tokenizer, effective_order=True)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (character 6-grams, beta 2), 0-1."""
    if not hypotheses:
        return 0.0
    sb = _sacrebleu()
    return _clamp(sb.metrics.CHRF().corpus_score(list(hypotheses), [list(references)]).score / 100)


class _MixedTokenizer:
    """The tokenizer object ``rouge_score.RougeScorer`` accepts (anything with ``tokenize``)."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MetricsUnavailable("ROUGE-L needs rouge-score: pip install 'hkllm[eval]'") from exc
    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_MixedTokenizer())


def rouge_l(hypothesis: str, references: Sequence[str]) -> float:
    """ROUGE-L F1 on CJK-character / word tokens, the best over the references, 0-1."""
    refs = [r for r in references if r and tokenize(r)]
    if not refs or not tokenize(hypothesis):
        return 0.0
    scorer = _rouge_scorer()
    return max(scorer.score(ref, hypothesis)["rougeL"].fmeasure for ref in refs)
