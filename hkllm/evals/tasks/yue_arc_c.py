"""Yue-ARC-C: the ARC-Challenge science questions in Cantonese (Yue-Benchmark), 4-way multiple choice.

File: ``yue-benchmark/Yue-ARC-C/Yue-ARC-C.json``, an array of objects with ``id``, ``question``, ``A``-``D``,
``answer`` and ``no``. Two upstream conventions are accepted: an ``answer`` of ``"1"``-``"4"`` (ARC's
numeric labels) means ``A``-``D``, and an option that is ``null`` (three-option questions) is left out.
Metric: accuracy, as in the Yue-Benchmark paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hkllm.evals.task import (
    Dataset,
    Item,
    MultipleChoiceTask,
    collect,
    locate,
    mcq_item,
    read_json_array,
    register,
    require_fields,
)

FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "question": str, "A": (str, type(None)), "B": (str, type(None)),
    "C": (str, type(None)), "D": (str, type(None)), "answer": (str, int),
}


@register
class YueArcC(MultipleChoiceTask):
    id = "yue-arc-c"
    title = "Yue-ARC-C (Cantonese ARC-Challenge)"
    source = "Yue-Benchmark, Jiang et al. 2024, arXiv:2408.16756"

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        path = locate(data_dir, ["yue-benchmark/Yue-ARC-C/Yue-ARC-C.json", "Yue-ARC-C/Yue-ARC-C.json", "Yue-ARC-C.json"],
                      what="Yue-ARC-C.json")
        rows = read_json_array(path)
        skipped: list[str] = []

        def build(pair: tuple[int, dict[str, Any]]) -> Item:
            row_no, row = pair
            require_fields(path, row_no, row, FIELDS, optional=["no"])
            answer = str(row["answer"]).strip()
            if answer in {"1", "2", "3", "4"}:
                answer = "ABCD"[int(answer) - 1]
            return mcq_item(path, row_no, item_id=f"Yue-ARC-C.json#{row_no}", subset="arc-c",
                            question=row["question"], options={k: row[k] for k in "ABCD"}, answer=answer, lang="yue")

        items = collect(enumerate(rows, start=1), build, skip_invalid=skip_invalid, skipped=skipped)
        return Dataset(items=items, files=[path], skipped=skipped)
