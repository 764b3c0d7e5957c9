"""The Task interface, the task registry, and the strict readers benchmark files go through.

A task is one benchmark. It loads its items from the folder the user names (nothing is bundled or
downloaded), turns an item into chat messages, scores one reply, and aggregates the scores. Tasks are
registered with :func:`register`; the built-in ones in ``hkllm.evals.tasks`` do it exactly as a plugin
would (a plugin module listed under the ``hkllm.eval_tasks`` entry-point group calls ``register`` when
it is imported).

Every reader here is strict: a missing field, a changed schema or a malformed row raises
:class:`BenchmarkFormatError` naming the file and the row, before any model time is spent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hkllm.errors import InvalidRequest
from hkllm.registry import Registry

# ---------------------------------------------------------------------------------------------------
# Errors


class BenchmarkFormatError(InvalidRequest):
    """A benchmark file does not have the shape its task expects. The message names file and row."""

    code = "benchmark_format"

    def __init__(self, path: Path | str, problem: str, *, row: int | None = None, line: int | None = None):
        where = str(path)
        if row is not None:
            where += f": row {row}"
            if line is not None:
                where += f" (line {line})"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.row = row


class BenchmarkNotFound(InvalidRequest):
    code = "benchmark_not_found"


class UnknownTask(InvalidRequest):
    code = "unknown_task"


class TaskUnavailable(InvalidRequest):
    """The task needs a part of hkllm (or an extra) that is not installed."""

    code = "task_unavailable"


# ---------------------------------------------------------------------------------------------------
# Items, datasets, scores


@dataclass(frozen=True)
class Item:
    """One benchmark question. ``id`` is stable (``<file>#<row>``) so interrupted runs can resume."""

    id: str
    subset: str
    prompt: str  # the question or the source text
    answer: str  # gold letter, gold number, or the main reference text
    options: dict[str, str] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    """What ``Task.load`` returns: the items in evaluation order plus few-shot exemplars."""

    items: list[Item]
    files: list[Path]
    exemplars: dict[str, list[Item]] = field(default_factory=dict)  # subset -> dev/train items
    skipped: list[str] = field(default_factory=list)  # rows skipped with skip_invalid=True
    extra_fingerprint: str = ""

    def shots_for(self, item: Item, k: int) -> list[Item]:
        """``k`` exemplars: the subset's dev/train split if it has one, else the first other items of
        the same subset (benchmarks without a dev split)."""
        if k <= 0:
            return []
        pool = self.exemplars.get(item.subset)
        if pool is None:
            pool = [other for other in self.items if other.subset == item.subset and other.id != item.id]
        return pool[:k]

    def fingerprint(self) -> str:
        """SHA-256 over the files' bytes, so a resumed run notices when the data changed under it."""
        digest = hashlib.sha256(self.extra_fingerprint.encode())
        for path in sorted(self.files, key=lambda p: (p.name, str(p))):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()


@dataclass
class Scored:
    """One scored reply: what was extracted, whether it is right (None for graded metrics), a value 0-1."""

    prediction: str | None
    value: float
    correct: bool | None = None


@dataclass
class ItemResult:
    item: Item
    output: str
    scored: Scored


@dataclass
class Aggregate:
    score: float  # 0-1, the task's headline metric
    metrics: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# The interface


class Task(ABC):
    """One benchmark. Subclass, set the class attributes, implement ``load``/``messages``/``score``."""

    id: ClassVar[str]
    title: ClassVar[str]
    metric: ClassVar[str] = "accuracy"  # human-readable name of the headline metric
    source: ClassVar[str] = ""  # citation shown in the report
    prompt_version: ClassVar[str] = "v1"  # bump whenever prompts or scoring change
    max_tokens: ClassVar[int] = 32
    max_shots: ClassVar[int] = 5
    needs_data: ClassVar[bool] = True

    @abstractmethod
    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        """Read and validate every row; raise BenchmarkFormatError (or skip the row if skip_invalid)."""

    @abstractmethod
    def messages(self, item: Item, shots: Sequence[Item]) -> list[dict[str, str]]:
        """OpenAI chat messages for ``item``, with ``shots`` as worked examples."""

    @abstractmethod
    def score(self, item: Item, output: str) -> Scored: ...

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        """Default: mean of the per-item values, plus a per-subset breakdown."""
        return Aggregate(mean([r.scored.value for r in results]), {"by_subset": by_subset(results)})

    @abstractmethod
    def reference_reply(self, item: Item) -> str:
        """A reply a perfect model would give (drives the 'answers correctly' fake engine)."""

    @abstractmethod
    def wrong_reply(self, item: Item) -> str:
        """A reply that must score zero (drives the 'answers wrongly' fake engine)."""


T = TypeVar("T", bound=Task)

# ---------------------------------------------------------------------------------------------------
# Registry (the generic ``hkllm.registry.Registry``: built-in modules, then the group's plugins)

ENTRY_POINT_GROUP = "hkllm.eval_tasks"
BUILTIN_MODULES = (
    "hkllm.evals.tasks.yue_truthfulqa",
    "hkllm.evals.tasks.yue_gsm8k",
    "hkllm.evals.tasks.yue_arc_c",
    "hkllm.evals.tasks.yue_mmlu",
    "hkllm.evals.tasks.yue_trans",
    "hkllm.evals.tasks.hkcanto_mcq",
    "hkllm.evals.tasks.hkcanto_trans",
    "hkllm.evals.tasks.lang_fidelity",
)
TASKS: Registry[Task] = Registry("task", base=Task, group=ENTRY_POINT_GROUP, builtins=BUILTIN_MODULES,
                                 not_found=UnknownTask, param="tasks")


def register(task: T | type[T]) -> T | type[T]:
    """Register a task (an instance, or a class with a no-argument constructor: usable as a decorator)."""
    return TASKS.register(task)


def load_tasks() -> None:
    """Import the built-in task modules and the plugins' entry points (once)."""
    TASKS.load()


def all_tasks() -> list[Task]:
    """Built-in tasks in their documented order, then plugin tasks in registration order."""
    return TASKS.all()


def get_task(task_id: str) -> Task:
    return TASKS.get(task_id)


def parse_task_list(spec: Iterable[str]) -> list[Task]:
    """``["yue-arc-c,yue-gsm8k", "all"]`` -> tasks; raises UnknownTask for a name not registered."""
    ids = [part.strip() for chunk in spec for part in chunk.split(",") if part.strip()]
    if not ids:
        raise UnknownTask("no task given; `hkllm eval list` shows them", param="tasks")
    if "all" in ids:
        return all_tasks()
    return [get_task(task_id) for task_id in dict.fromkeys(ids)]


# ---------------------------------------------------------------------------------------------------
# Helpers shared by the task files


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def by_subset(results: Sequence[ItemResult]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[float]] = {}
    for r in results:
        groups.setdefault(r.item.subset, []).append(r.scored.value)
    return {name: {"score": mean(vals), "n": len(vals)} for name, vals in sorted(groups.items())}


def interleave(groups: Sequence[Sequence[Item]]) -> list[Item]:
    """Round-robin over subsets, so ``--limit N`` samples every subset instead of only the first."""
    out: list[Item] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def locate(data_dir: Path, candidates: Sequence[str], *, what: str) -> Path:
    """The first of ``data_dir/<candidate>`` that exists (a file or folder)."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise BenchmarkNotFound(f"data folder {data_dir} does not exist (pass --data-dir)", param="data_dir")
    for candidate in candidates:
        path = data_dir / candidate if candidate else data_dir
        if path.exists():
            return path
    tried = ", ".join(str(data_dir / c) if c else str(data_dir) for c in candidates)
    raise BenchmarkNotFound(f"{what} not found under {data_dir} (looked for: {tried})", param="data_dir")


def _read_text(path: Path) -> str:
    """UTF-8 text with line endings untouched (no universal-newline translation of a stray ``\\r``)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BenchmarkFormatError(path, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise BenchmarkNotFound(f"{path}: cannot read ({exc.strerror})") from exc


def read_json_array(path: Path) -> list[dict[str, Any]]:
    """A JSON file holding an array of objects."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise BenchmarkFormatError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    if not isinstance(data, list):
        raise BenchmarkFormatError(path, f"expected a JSON array of objects, found a JSON {type(data).__name__}")
    for i, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise BenchmarkFormatError(path, f"expected an object, found {type(row).__name__}", row=i)
    return data


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """JSON Lines: ``(line number, object)`` for each non-blank line."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkFormatError(path, f"not valid JSON ({exc.msg})", row=len(rows) + 1, line=lineno) from exc
        if not isinstance(obj, dict):
            raise BenchmarkFormatError(path, f"expected an object, found {type(obj).__name__}",
                                       row=len(rows) + 1, line=lineno)
        rows.append((lineno, obj))
    return rows


def read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """A header-less CSV: ``(line number, cells)`` per non-blank row (check widths with ``require_width``).

    A carriage return that does not end a line (a stray ``\\r`` inside an unquoted cell, as in the
    upstream HKCanto-Eval phonology file) is dropped instead of being taken for a row break.
    """
    text = re.sub(r"\r(?!\n)", "", _read_text(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start_line = 1
    try:
        for cells in reader:
            line, start_line = start_line, reader.line_num + 1
            if any(c.strip() for c in cells):
                rows.append((line, cells))
    except csv.Error as exc:
        raise BenchmarkFormatError(path, f"unreadable CSV ({exc})", row=len(rows) + 1, line=start_line) from exc
    return rows


def require_width(path: Path, row_no: int, cells: Sequence[str], width: int, *, line: int | None = None) -> None:
    if len(cells) != width:
        raise BenchmarkFormatError(path, f"expected {width} columns, found {len(cells)}: {list(cells)!r:.160}",
                                   row=row_no, line=line)


def require_fields(
    path: Path, row_no: int, row: dict[str, Any], fields: dict[str, type | tuple[type, ...]],
    *, optional: Iterable[str] = (), line: int | None = None,
) -> None:
    """Check that ``row`` has every field of ``fields`` with the given type(s)."""
    missing = [name for name in fields if name not in row]
    if missing:
        unexpected = sorted(set(row) - set(fields) - set(optional))
        present = ", ".join(map(str, row)) or "none"
        extra = f"; unexpected: {', '.join(unexpected)}" if unexpected else ""
        names = ", ".join(repr(m) for m in missing)
        raise BenchmarkFormatError(
            path, f"missing field {names} (fields present: {present}{extra})", row=row_no, line=line
        )
    for name, kind in fields.items():
        if not isinstance(row[name], kind):
            raise BenchmarkFormatError(
                path, f"field {name!r} should be {_kind_name(kind)}, found {type(row[name]).__name__}",
                row=row_no, line=line,
            )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def collect(
    rows: Iterable[Any], build: Callable[[Any], Item | None], *, skip_invalid: bool, skipped: list[str]
) -> list[Item]:
    """Apply ``build`` to each row; a BenchmarkFormatError is raised, or noted in ``skipped``."""
    items: list[Item] = []
    for row in rows:
        try:
            item = build(row)
        except BenchmarkFormatError as exc:
            if not skip_invalid:
                raise
            skipped.append(str(exc))
            continue
        if item is not None:
            items.append(item)
    return items


def mcq_item(
    path: Path, row_no: int, *, item_id: str, subset: str, question: Any, options: dict[str, Any],
    answer: Any, lang: str, line: int | None = None, allow_empty_options: bool = False,
) -> Item:
    """Validate and build one multiple-choice item. Options that are ``None`` are left out, and so are
    empty ones where ``allow_empty_options`` (three-option questions written with an empty cell)."""
    if not isinstance(question, str) or not question.strip():
        raise BenchmarkFormatError(path, "empty question", row=row_no, line=line)
    present = {k: str(v).strip() for k, v in options.items() if v is not None}
    empty = [k for k, v in present.items() if not v]
    if empty and not allow_empty_options:
        raise BenchmarkFormatError(path, f"empty option {', '.join(empty)}", row=row_no, line=line)
    present = {k: v for k, v in present.items() if v}
    if len(present) < 2:
        raise BenchmarkFormatError(path, "fewer than two options", row=row_no, line=line)
    gold = str(answer).strip().upper() if answer is not None else ""
    if gold not in present:
        raise BenchmarkFormatError(
            path, f"answer {answer!r} is not one of the options {', '.join(present)}", row=row_no, line=line
        )
    return Item(id=item_id, subset=subset, prompt=question.strip(), answer=gold, options=present,
                meta={"lang": lang})


# ---------------------------------------------------------------------------------------------------
# Shared bases: multiple choice and translation


class MultipleChoiceTask(Task):
    """Questions with lettered options; the reply's letter (see ``extract.extract_choice``) must match."""

    metric = "accuracy"
    max_tokens = 24
    instruction_yue = "以下係單項選擇題，請揀出正確答案。只需要回答選項字母（{letters}）。"
    instruction_en = "The following is a multiple-choice question. Reply with the letter of the correct option ({letters}) only."

    def messages(self, item: Item, shots: Sequence[Item]) -> list[dict[str, str]]:
        letters = "、".join(item.options) if item.meta.get("lang") != "en" else ", ".join(item.options)
        template = self.instruction_en if item.meta.get("lang") == "en" else self.instruction_yue
        msgs = [{"role": "system", "content": template.format(letters=letters)}]
        for shot in shots:
            msgs.append({"role": "user", "content": self.render(shot)})
            msgs.append({"role": "assistant", "content": self.answer_line(shot, shot.answer)})
        msgs.append({"role": "user", "content": self.render(item)})
        return msgs

    @staticmethod
    def render(item: Item) -> str:
        english = item.meta.get("lang") == "en"
        lines = [("Question: " if english else "問題：") + item.prompt]
        lines += [f"{letter}. {text}" for letter, text in item.options.items()]
        lines.append("Answer:" if english else "答案：")
        return "\n".join(lines)

    @staticmethod
    def answer_line(item: Item, letter: str) -> str:
        return f"The answer is ({letter})." if item.meta.get("lang") == "en" else f"答案係 {letter}"

    def score(self, item: Item, output: str) -> Scored:
        from hkllm.evals.extract import extract_choice

        pred = extract_choice(output, tuple(item.options), item.options)
        correct = pred == item.answer
        return Scored(prediction=pred, value=1.0 if correct else 0.0, correct=correct)

    def reference_reply(self, item: Item) -> str:
        return self.answer_line(item, item.answer)

    def wrong_reply(self, item: Item) -> str:
        letters = list(item.options)
        wrong = letters[(letters.index(item.answer) + 1) % len(letters)]
        return self.answer_line(item, wrong)


LANG_NAMES = {"en": ("英文", "English"), "eng": ("英文", "English"), "zh": ("中文書面語", "written Chinese"),
              "zh-Hans": ("普通話（簡體中文）", "Mandarin Chinese"), "yue": ("香港廣東話", "Hong Kong Cantonese")}
_LABELS = re.compile(r"^\s*(?:翻譯|翻译|譯文|译文|廣東話|粵語|粤语|中文|英文|Translation|Cantonese|English)\s*[:：]\s*",
                     re.IGNORECASE)


_QUOTE_PAIRS = ('""', "「」", "“”", "''", "『』", "‘’")
_QUOTES = {pair[0] for pair in _QUOTE_PAIRS}


class TranslationTask(Task):
    """Source -> target translation, scored by corpus BLEU per direction (sacrebleu); chrF and a
    character-level ROUGE-L are kept as extra metrics. Items carry ``meta['src']``/``meta['tgt']``."""

    metric = "BLEU (sacrebleu, zh tokenizer for Chinese targets)"
    max_tokens = 192
    max_shots = 5

    def messages(self, item: Item, shots: Sequence[Item]) -> list[dict[str, str]]:
        src, tgt = item.meta["src"], item.meta["tgt"]
        english_out = tgt in ("en", "eng")
        if english_out:
            system = f"Translate the user's {LANG_NAMES[src][1]} text into fluent English. Reply with the translation only."
        else:
            system = f"將用戶提供嘅{LANG_NAMES[src][0]}翻譯成{LANG_NAMES[tgt][0]}。只需要回覆譯文，唔使解釋。"
        msgs = [{"role": "system", "content": system}]
        for shot in shots:
            msgs.append({"role": "user", "content": shot.prompt})
            msgs.append({"role": "assistant", "content": shot.answer})
        msgs.append({"role": "user", "content": item.prompt})
        return msgs

    @staticmethod
    def clean(output: str, source: str = "") -> str:
        """The translation itself: the first paragraph, without a 「譯文：」 label, and without quotes
        wrapped around it unless the source text is itself quoted."""
        text = (output or "").strip()
        text = _LABELS.sub("", text)
        text = text.split("\n\n", 1)[0].strip()
        quoted = source.strip()[:1] in _QUOTES
        if not quoted and len(text) >= 2 and text[0] + text[-1] in _QUOTE_PAIRS:
            text = text[1:-1].strip()
        return text

    def score(self, item: Item, output: str) -> Scored:
        from hkllm.evals.metrics import sentence_bleu

        hyp = self.clean(output, item.prompt)
        return Scored(prediction=hyp, value=sentence_bleu(hyp, [item.answer], item.meta["tgt"]))

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        from hkllm.evals.metrics import corpus_bleu, corpus_chrf, rouge_l

        directions: dict[str, list[ItemResult]] = {}
        for r in results:
            directions.setdefault(f"{r.item.meta['src']}-{r.item.meta['tgt']}", []).append(r)
        per: dict[str, dict[str, float]] = {}
        for name, group in sorted(directions.items()):
            hyps = [self.clean(r.output, r.item.prompt) for r in group]
            refs = [r.item.answer for r in group]
            per[name] = {
                "bleu": corpus_bleu(hyps, refs, group[0].item.meta["tgt"]),
                "chrf": corpus_chrf(hyps, refs),
                "rouge_l": mean([rouge_l(h, [ref]) for h, ref in zip(hyps, refs, strict=True)]),
                "n": len(group),
            }
        score = mean([d["bleu"] for d in per.values()])
        return Aggregate(score, {
            "bleu": score,
            "chrf": mean([d["chrf"] for d in per.values()]),
            "rouge_l": mean([d["rouge_l"] for d in per.values()]),
            "by_direction": per,
        })

    def reference_reply(self, item: Item) -> str:
        return item.answer

    def wrong_reply(self, item: Item) -> str:
        return "∅"
