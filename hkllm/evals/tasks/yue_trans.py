"""Yue-TRANS: translation into Cantonese (Yue-Benchmark), English -> yue and Mandarin -> yue.

Files: ``yue-benchmark/Yue-TRANS/Yue-TRANS-en-yue.json`` and ``Yue-TRANS-zh-yue.json``, arrays of objects
with ``no``, ``en`` and ``yue``. In the zh-yue file the field named ``en`` holds the Mandarin (Simplified
Chinese) source: that is how upstream keys it, and it is read that way here. Metric: corpus BLEU per
direction (sacrebleu, ``zh`` tokenizer), averaged over the two directions; chrF and ROUGE-L as extras.
The paper reports sentence BLEU on pycantonese words, so our numbers are not directly comparable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hkllm.evals.task import (
    BenchmarkFormatError,
    Dataset,
    Item,
    TranslationTask,
    collect,
    interleave,
    locate,
    read_json_array,
    register,
    require_fields,
)

FIELDS: dict[str, type | tuple[type, ...]] = {"en": str, "yue": str}
DIRECTIONS = (("Yue-TRANS-en-yue.json", "en"), ("Yue-TRANS-zh-yue.json", "zh-Hans"))


@register
class YueTrans(TranslationTask):
    id = "yue-trans"
    title = "Yue-TRANS (English/Mandarin -> Cantonese translation)"
    source = "Yue-Benchmark, Jiang et al. 2024, arXiv:2408.16756"
    max_tokens = 256

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        folder = locate(data_dir, ["yue-benchmark/Yue-TRANS", "Yue-TRANS"], what="the Yue-TRANS folder")
        skipped: list[str] = []
        groups: list[list[Item]] = []
        files: list[Path] = []
        for name, src in DIRECTIONS:
            path = locate(folder, [name], what=name)
            files.append(path)

            def build(pair: tuple[int, dict[str, Any]], path: Path = path, src: str = src) -> Item:
                row_no, row = pair
                require_fields(path, row_no, row, FIELDS, optional=["no"])
                if not row["en"].strip() or not row["yue"].strip():
                    raise BenchmarkFormatError(path, "empty source ('en') or reference ('yue')", row=row_no)
                return Item(id=f"{path.name}#{row_no}", subset=f"{src}-yue", prompt=row["en"].strip(),
                            answer=row["yue"].strip(), meta={"src": src, "tgt": "yue"})

            rows = read_json_array(path)
            groups.append(collect(enumerate(rows, start=1), build, skip_invalid=skip_invalid, skipped=skipped))
        return Dataset(items=interleave(groups), files=files, skipped=skipped)
