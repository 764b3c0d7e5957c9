"""HKCanto-Eval multiple choice: the ``cultural``, ``dse``, ``hk-law`` and ``linguistic_knowledge`` subsets.

Files: ``hkcanto-eval/<subset>/test/<name>_test.csv`` (questions) and ``.../dev/<name>_dev.csv`` (few-shot
exemplars, used for ``--shots``). The CSVs have no header row; columns are ``question, A, B, C, D, answer``,
or ``question, A, B, C, D, E, answer`` for ``linguistic_knowledge`` (E is usually "None of the above").
``dse`` has each question in English (``*_en_*``) and Chinese (``*_zh_*``); both are asked, in their own
language. Items are interleaved across files so ``--limit`` samples every file.
An empty option cell (upstream's way of writing a three-option question) leaves that option out.
Metric: accuracy, as in the HKCanto-Eval paper; per-subset accuracy is kept in the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hkllm.evals.task import (
    Aggregate,
    BenchmarkNotFound,
    Dataset,
    Item,
    ItemResult,
    MultipleChoiceTask,
    by_subset,
    collect,
    interleave,
    locate,
    mcq_item,
    read_csv_rows,
    register,
    require_width,
)

SUBSETS: dict[str, str] = {  # subset folder -> option letters
    "cultural": "ABCD",
    "dse": "ABCD",
    "hk-law": "ABCD",
    "linguistic_knowledge": "ABCDE",
}


def _lang(subset: str, stem: str) -> str:
    return "en" if subset == "linguistic_knowledge" or "_en_" in f"{stem}_" else "yue"


@register
class HkCantoMcq(MultipleChoiceTask):
    id = "hkcanto-mcq"
    title = "HKCanto-Eval multiple choice (cultural, DSE, HK law, linguistic knowledge)"
    source = "HKCanto-Eval, Cheng et al. 2025, arXiv:2503.12440"

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        root = locate(data_dir, ["hkcanto-eval", ""], what="the hkcanto-eval folder")
        if not any((root / s).is_dir() for s in SUBSETS):
            raise BenchmarkNotFound(f"{root} holds none of the subsets {', '.join(SUBSETS)}", param="data_dir")
        skipped: list[str] = []
        groups: list[list[Item]] = []
        exemplars: dict[str, list[Item]] = {}
        files: list[Path] = []
        for subset, letters in SUBSETS.items():
            tests = sorted((root / subset / "test").glob("*_test.csv"))
            if not tests:
                raise BenchmarkNotFound(f"{root / subset / 'test'} holds no *_test.csv files", param="data_dir")
            for path in tests:
                stem = path.name.removesuffix("_test.csv")
                name = f"{subset}/{stem}"
                files.append(path)
                groups.append(self._read(path, name, subset, stem, letters, skip_invalid, skipped))
                dev = root / subset / "dev" / f"{stem}_dev.csv"
                if dev.is_file():
                    files.append(dev)
                    exemplars[name] = self._read(dev, name, subset, stem, letters, skip_invalid, skipped)
        return Dataset(items=interleave(groups), files=files, exemplars=exemplars, skipped=skipped)

    @staticmethod
    def _read(path: Path, name: str, subset: str, stem: str, letters: str, skip_invalid: bool,
              skipped: list[str]) -> list[Item]:
        width = len(letters) + 2
        rows = read_csv_rows(path)
        lang = _lang(subset, stem)
        rel = f"{subset}/{path.parent.name}/{path.name}"

        def build(entry: tuple[int, tuple[int, list[str]]]) -> Item:
            row_no, (line, cells) = entry
            require_width(path, row_no, cells, width, line=line)
            return mcq_item(path, row_no, item_id=f"{rel}#{row_no}", subset=name, question=cells[0],
                            options=dict(zip(letters, cells[1:-1], strict=True)), answer=cells[-1],
                            lang=lang, line=line, allow_empty_options=True)

        return collect(enumerate(rows, start=1), build, skip_invalid=skip_invalid, skipped=skipped)

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        agg = super().aggregate(results)
        groups: dict[str, list[float]] = {}
        for r in results:
            groups.setdefault(r.item.subset.split("/")[0], []).append(r.scored.value)
        agg.metrics["by_category"] = {k: {"score": sum(v) / len(v), "n": len(v)} for k, v in sorted(groups.items())}
        agg.metrics["by_subset"] = by_subset(results)
        return agg
