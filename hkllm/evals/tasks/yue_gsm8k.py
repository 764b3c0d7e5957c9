"""Yue-GSM8K: grade-school maths word problems in Cantonese (Yue-Benchmark).

File: ``yue-benchmark/Yue-GSM8K/Yue-GSM8K.json``, an array of objects with ``question`` and ``answer`` (a
worked solution ending in ``####<number>``). The model is asked to reason step by step and end with
「答案係 <數字>」; the final number is extracted (``extract.extract_number``) and compared numerically
with the gold number. Metric: exact-number accuracy, as in the Yue-Benchmark paper.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hkllm.evals.extract import canonical_number, extract_number, numbers_equal
from hkllm.evals.task import (
    BenchmarkFormatError,
    Dataset,
    Item,
    Scored,
    Task,
    collect,
    locate,
    read_json_array,
    register,
    require_fields,
)

FIELDS: dict[str, type | tuple[type, ...]] = {"question": str, "answer": str}
_GOLD = re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+)\s*$")

SYSTEM = "你係一個數學老師。請用廣東話一步一步計，最後一行寫「答案係 <數字>」，數字唔使加單位。"


@register
class YueGsm8k(Task):
    id = "yue-gsm8k"
    title = "Yue-GSM8K (Cantonese grade-school maths)"
    metric = "accuracy (exact final number)"
    source = "Yue-Benchmark, Jiang et al. 2024, arXiv:2408.16756"
    max_tokens = 256

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        path = locate(data_dir, ["yue-benchmark/Yue-GSM8K/Yue-GSM8K.json", "Yue-GSM8K/Yue-GSM8K.json",
                                 "Yue-GSM8K.json"], what="Yue-GSM8K.json")
        rows = read_json_array(path)
        skipped: list[str] = []

        def build(pair: tuple[int, dict[str, Any]]) -> Item:
            row_no, row = pair
            require_fields(path, row_no, row, FIELDS)
            match = _GOLD.search(row["answer"].strip())
            if not match or not row["question"].strip():
                raise BenchmarkFormatError(path, "field 'answer' does not end in '####<number>'", row=row_no)
            worked = row["answer"][: match.start()].strip()
            return Item(id=f"Yue-GSM8K.json#{row_no}", subset="gsm8k", prompt=row["question"].strip(),
                        answer=canonical_number(match.group(1)), meta={"worked": worked})

        items = collect(enumerate(rows, start=1), build, skip_invalid=skip_invalid, skipped=skipped)
        return Dataset(items=items, files=[path], skipped=skipped)

    def messages(self, item: Item, shots: Sequence[Item]) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": SYSTEM}]
        for shot in shots:
            msgs.append({"role": "user", "content": f"問題：{shot.prompt}"})
            msgs.append({"role": "assistant", "content": self.reference_reply(shot)})
        msgs.append({"role": "user", "content": f"問題：{item.prompt}"})
        return msgs

    def score(self, item: Item, output: str) -> Scored:
        pred = extract_number(output)
        correct = numbers_equal(pred, item.answer)
        return Scored(prediction=pred, value=1.0 if correct else 0.0, correct=correct)

    def reference_reply(self, item: Item) -> str:
        return f"{item.meta.get('worked', '')}\n答案係 {item.answer}".strip()

    def wrong_reply(self, item: Item) -> str:
        return f"答案係 {canonical_number(str(float(item.answer) + 1))}"
