"""Yue-MMLU: CMMLU-style subject questions in Cantonese (Yue-Benchmark), 4-way multiple choice.

Files: ``yue-benchmark/Yue-MMLU/<subject>.json``, each an array of objects with ``question``, ``A``-``D``,
``answer`` and ``no``. Items are interleaved across subjects so ``--limit`` samples all of them.
Few-shot exemplars are the first items of the same subject (there is no dev split).
Metric: accuracy, as in the Yue-Benchmark paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hkllm.evals.task import (
    BenchmarkNotFound,
    Dataset,
    Item,
    MultipleChoiceTask,
    collect,
    interleave,
    locate,
    mcq_item,
    read_json_array,
    register,
    require_fields,
)

FIELDS: dict[str, type | tuple[type, ...]] = {
    "question": str, "A": str, "B": str, "C": str, "D": str, "answer": str,
}


@register
class YueMmlu(MultipleChoiceTask):
    id = "yue-mmlu"
    title = "Yue-MMLU (Cantonese CMMLU subjects)"
    source = "Yue-Benchmark, Jiang et al. 2024, arXiv:2408.16756"

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        folder = locate(data_dir, ["yue-benchmark/Yue-MMLU", "Yue-MMLU"], what="the Yue-MMLU folder")
        files = sorted(folder.glob("*.json"))
        if not files:
            raise BenchmarkNotFound(f"{folder} holds no subject .json files", param="data_dir")
        skipped: list[str] = []
        groups: list[list[Item]] = []
        for path in files:
            subject = path.stem

            def build(pair: tuple[int, dict[str, Any]], path: Path = path, subject: str = subject) -> Item:
                row_no, row = pair
                require_fields(path, row_no, row, FIELDS, optional=["no", "id"])
                return mcq_item(path, row_no, item_id=f"Yue-MMLU/{path.name}#{row_no}", subset=subject,
                                question=row["question"], options={k: row[k] for k in "ABCD"},
                                answer=row["answer"], lang="yue")

            rows = read_json_array(path)
            groups.append(collect(enumerate(rows, start=1), build, skip_invalid=skip_invalid, skipped=skipped))
        return Dataset(items=interleave(groups), files=files, skipped=skipped)
