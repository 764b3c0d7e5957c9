"""HKCanto-Eval translation: the ``canto-nlp`` sets eng->yue, yue->eng, yue->zh and zh->yue.

Files: ``hkcanto-eval/canto-nlp/<src>_<tgt>_test.json`` (JSON Lines with ``#``, ``SourceL``, ``TargetL``,
``SourceText``, ``TargetText``); ``<src>_<tgt>_train.json`` hold 3 exemplars each for ``--shots`` (at most 3).
Metric: corpus BLEU per direction (sacrebleu; ``zh`` tokenizer for Chinese targets, ``13a`` for
English), averaged over the four directions; chrF and ROUGE-L as extras. The upstream scripts save the
translations without scoring them, so BLEU is our choice here.
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
    read_jsonl,
    register,
    require_fields,
)

DIRECTIONS = (("eng", "yue"), ("yue", "eng"), ("yue", "zh"), ("zh", "yue"))
FIELDS: dict[str, type | tuple[type, ...]] = {"SourceL": str, "TargetL": str, "SourceText": str, "TargetText": str}


@register
class HkCantoTrans(TranslationTask):
    id = "hkcanto-trans"
    title = "HKCanto-Eval translation (eng/zh <-> yue)"
    source = "HKCanto-Eval, Cheng et al. 2025, arXiv:2503.12440"
    max_tokens = 128
    max_shots = 3

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        folder = locate(data_dir, ["hkcanto-eval/canto-nlp", "canto-nlp"], what="the canto-nlp folder")
        skipped: list[str] = []
        groups: list[list[Item]] = []
        exemplars: dict[str, list[Item]] = {}
        files: list[Path] = []
        for src, tgt in DIRECTIONS:
            subset = f"{src}-{tgt}"
            test = locate(folder, [f"{src}_{tgt}_test.json"], what=f"{src}_{tgt}_test.json")
            files.append(test)
            groups.append(self._read(test, src, tgt, subset, skip_invalid, skipped))
            train = folder / f"{src}_{tgt}_train.json"
            if train.is_file():
                files.append(train)
                exemplars[subset] = self._read(train, src, tgt, subset, skip_invalid, skipped)
        return Dataset(items=interleave(groups), files=files, exemplars=exemplars, skipped=skipped)

    @staticmethod
    def _read(path: Path, src: str, tgt: str, subset: str, skip_invalid: bool, skipped: list[str]) -> list[Item]:
        def build(entry: tuple[int, tuple[int, dict[str, Any]]]) -> Item:
            row_no, (line, row) = entry
            require_fields(path, row_no, row, FIELDS, optional=["#"], line=line)
            if (row["SourceL"], row["TargetL"]) != (src, tgt):
                raise BenchmarkFormatError(
                    path, f"direction {row['SourceL']}->{row['TargetL']} does not match the file name ({src}->{tgt})",
                    row=row_no, line=line)
            if not row["SourceText"].strip() or not row["TargetText"].strip():
                raise BenchmarkFormatError(path, "empty SourceText or TargetText", row=row_no, line=line)
            return Item(id=f"canto-nlp/{path.name}#{row_no}", subset=subset, prompt=row["SourceText"].strip(),
                        answer=row["TargetText"].strip(), meta={"src": src, "tgt": tgt})

        return collect(enumerate(read_jsonl(path), start=1), build, skip_invalid=skip_invalid, skipped=skipped)
