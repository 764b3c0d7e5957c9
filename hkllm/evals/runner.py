"""Running tasks against an engine: deterministic requests, per-item storage, resume, progress.

A run is identified by (task, model, engine, prompt version, shots, max_tokens, seed, data fingerprint).
Each answered item is committed on its own, so a run that is interrupted (Ctrl-C, crash, engine gone)
is resumed by running the same command again: done items are skipped, items that ended in an engine
error are asked again. ``--fresh`` starts a new run instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress

from hkllm.embedded import make_engine
from hkllm.engine import ChatMessage, ChatRequest, Engine, FakeEngine, OpenAICompatibleEngine, completion_text
from hkllm.errors import EngineError, EngineUnavailable, HkllmError, InvalidRequest
from hkllm.evals import store
from hkllm.evals.task import Dataset, Item, ItemResult, Scored, Task
from hkllm.settings import Settings
from hkllm.store.db import Database

SEED = 1234
DEFAULT_TIMEOUT_S = 120.0
RETRIES = 2  # extra attempts for one item after an engine error
RETRY_DELAY_S = 2.0  # first back-off; doubles per attempt
MAX_CONSECUTIVE_FAILURES = 3  # items in a row that fail every attempt: the run stops (resumable)


class UnknownEngine(InvalidRequest):
    code = "unknown_engine"


class EvalAborted(HkllmError):
    """The engine failed too often; the run is saved and resumes when the command is run again."""

    status = 503
    type = "engine_unavailable"
    code = "eval_aborted"


# ---------------------------------------------------------------------------------------------------
# Engines


class OracleEngine(FakeEngine):
    """A fake engine that knows the benchmark: it answers every prompt it has been taught with the
    task's reference reply (``mode="correct"``) or a reply that must score zero (``mode="wrong"``).
    For tests and ``--engine fake:correct|fake:wrong``; the runner teaches it each task's items."""

    def __init__(self, mode: str = "correct") -> None:
        if mode not in ("correct", "wrong"):
            raise UnknownEngine(f"fake engine mode must be 'correct' or 'wrong', not {mode!r}")
        self.mode = mode
        self.answers: dict[str, str] = {}
        super().__init__(default=self._answer, model=f"fake-{mode}")

    def learn(self, task: Task, dataset: Dataset, shots: int) -> None:
        for item in dataset.items:
            messages = task.messages(item, dataset.shots_for(item, shots))
            reply = task.reference_reply(item) if self.mode == "correct" else task.wrong_reply(item)
            self.answers[prompt_key(messages)] = reply

    def _answer(self, request: ChatRequest) -> str:
        key = prompt_key([m.model_dump(exclude_none=True) for m in request.messages])
        if key not in self.answers:
            raise EngineError("OracleEngine was asked a prompt it was not taught")
        return self.answers[key]


def prompt_key(messages: Sequence[dict[str, Any]]) -> str:
    return "\x1e".join(f"{m['role']}\x1f{m.get('content') or ''}" for m in messages)


def resolve_engine(spec: str | None, settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Engine:
    """The engine ``--engine`` names.

    ``None`` / ``"embedded"``: ``settings.engine_url`` if set, else the embedded llama.cpp server that
    ``hkllm serve`` supervises (``http://127.0.0.1:{embedded_port}/v1``). A URL: that OpenAI-compatible
    server. ``fake`` / ``fake:correct`` / ``fake:wrong``: an :class:`OracleEngine` (tests only).
    """
    if spec is None or spec in ("", "embedded", "default"):
        # the same engine the server and the chat CLI use (remote engine_url, or the embedded server)
        return make_engine(settings.model_copy(update={"engine_timeout_s": timeout_s}))
    if spec == "fake" or spec.startswith("fake:"):
        return OracleEngine(spec.partition(":")[2] or "correct")
    if spec.startswith(("http://", "https://")):
        # The configured key goes only to the configured server, never to an arbitrary URL.
        same = settings.engine_url is not None and spec.rstrip("/") == settings.engine_url.rstrip("/")
        return OpenAICompatibleEngine(spec, api_key=settings.engine_api_key if same else None, timeout_s=timeout_s,
                                      name="url")
    raise UnknownEngine(f"unknown engine {spec!r}: use a URL (http://host:port/v1), 'embedded' or 'fake'",
                        param="engine")


def engine_label(engine: Engine) -> str:
    base = getattr(engine, "base_url", None)
    if base:
        return str(base)
    mode = getattr(engine, "mode", None)
    return f"fake:{mode}" if mode else str(getattr(engine, "name", type(engine).__name__))


async def model_name(engine: Engine, explicit: str | None = None) -> str:
    """The model id recorded with a run: ``--model``, the engine's default, or the first it lists."""
    if explicit:
        return explicit
    default = getattr(engine, "default_model", None) or getattr(engine, "model", None)
    if isinstance(default, str) and default:
        return default
    try:
        models = await engine.list_models()
    except HkllmError:
        return "unknown"
    return str(models[0].get("id", "unknown")) if models else "unknown"


# ---------------------------------------------------------------------------------------------------
# Running


@dataclass
class RunSummary:
    run_id: int
    task: str
    model: str
    engine: str
    prompt_version: str
    shots: int
    n: int
    score: float
    metrics: dict[str, Any]
    wall_s: float
    resumed_items: int = 0
    errors: int = 0
    skipped_rows: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "score": round(self.score, 6), "n": self.n, "model": self.model,
            "engine": self.engine, "prompt_version": self.prompt_version, "shots": self.shots,
            "wall_s": round(self.wall_s, 2), "run_id": self.run_id, "resumed_items": self.resumed_items,
            "errors": self.errors, "skipped_rows": len(self.skipped_rows), "metrics": self.metrics,
        }


def _result_from_row(item: Item, row: store.EvalItem) -> ItemResult:
    return ItemResult(item=item, output=row.output,
                      scored=Scored(prediction=row.prediction, value=row.value, correct=row.correct))


async def _ask(engine: Engine, request: ChatRequest, timeout_s: float) -> str:
    """One completion with a hard deadline, retried ``RETRIES`` times on engine errors."""
    last: Exception | None = None
    for attempt in range(RETRIES + 1):
        try:
            completion = await asyncio.wait_for(engine.complete(request), timeout=timeout_s + 5)
            return completion_text(completion)
        except (EngineUnavailable, EngineError, TimeoutError) as exc:
            last = exc
            if attempt < RETRIES:
                await asyncio.sleep(RETRY_DELAY_S * (attempt + 1))
    assert last is not None
    raise last


async def run_task(
    task: Task,
    engine: Engine,
    db: Database,
    *,
    data_dir: Path | None,
    limit: int | None = None,
    shots: int = 0,
    model: str | None = None,
    fresh: bool = False,
    skip_invalid: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    on_item: Callable[[Item, str], None] | None = None,
) -> RunSummary:
    """Run (or resume) ``task`` on ``engine`` and store everything in ``db``."""
    started = time.monotonic()
    if task.needs_data and data_dir is None:
        raise InvalidRequest(f"task {task.id} reads benchmark files: pass --data-dir", param="data_dir")
    dataset = task.load(Path(data_dir) if data_dir else Path("."), skip_invalid=skip_invalid)
    if limit is not None and limit < 0:
        raise InvalidRequest("--limit must be >= 0", param="limit")
    shots = max(0, min(shots, task.max_shots))
    items = dataset.items[:limit] if limit is not None else dataset.items
    if isinstance(engine, OracleEngine):
        engine.learn(task, dataset, shots)
    model_id = await model_name(engine, model)
    label = engine_label(engine)
    fingerprint = dataset.fingerprint()

    with db.session() as session:
        run = None if fresh else store.find_resumable(
            session, task=task.id, model=model_id, engine=label, prompt_version=task.prompt_version, shots=shots,
            max_tokens=task.max_tokens, seed=SEED, data_fingerprint=fingerprint)
        if run is None:
            run = store.EvalRun(task=task.id, model=model_id, engine=label, prompt_version=task.prompt_version,
                                shots=shots, item_limit=limit, max_tokens=task.max_tokens, seed=SEED,
                                data_fingerprint=fingerprint, data_dir=str(data_dir) if data_dir else None,
                                status="running", n=0, metrics={}, wall_s=0.0,
                                meta={"metric": task.metric, "skipped_rows": dataset.skipped[:50]})
            session.add(run)
            session.flush()
        else:
            store.drop_failed_items(session, run.id)
            run.item_limit = limit
        run_id, previous_wall = run.id, run.wall_s
        done = {row.item_id: row for row in store.items_of(session, run_id)}

    todo = [(pos, item) for pos, item in enumerate(items) if item.id not in done]
    resumed = len(items) - len(todo)
    bar = progress.add_task(task.id, total=len(items), completed=resumed) if progress is not None else None
    consecutive = errors = 0
    try:
        for pos, item in todo:
            messages = task.messages(item, dataset.shots_for(item, shots))
            request = ChatRequest(messages=[ChatMessage.model_validate(m) for m in messages], temperature=0.0,
                                  top_p=1.0, seed=SEED, max_tokens=task.max_tokens,
                                  model=model if model else None)
            t0 = time.monotonic()
            error: str | None = None
            try:
                output = await _ask(engine, request, timeout_s)
                consecutive = 0
            except (EngineUnavailable, EngineError, TimeoutError) as exc:
                consecutive += 1
                errors += 1
                if consecutive >= MAX_CONSECUTIVE_FAILURES:
                    raise EvalAborted(
                        f"{task.id}: the engine failed {consecutive} items in a row ({exc or type(exc).__name__}); "
                        f"run #{run_id} is saved, run the same command again to resume") from exc
                output, error = "", f"{type(exc).__name__}: {exc}"
            scored = task.score(item, output)
            with db.session() as session:
                session.add(store.EvalItem(
                    run_id=run_id, item_id=item.id, position=pos, subset=item.subset, messages=messages,
                    output=output, prediction=scored.prediction, reference=item.answer, correct=scored.correct,
                    value=scored.value, error=error, duration_ms=(time.monotonic() - t0) * 1000))
            if on_item is not None:
                on_item(item, output)
            if progress is not None and bar is not None:
                progress.advance(bar)
    finally:
        with db.session() as session:
            row = session.get(store.EvalRun, run_id)
            if row is not None:
                row.wall_s = previous_wall + (time.monotonic() - started)

    with db.session() as session:
        rows = {r.item_id: r for r in store.items_of(session, run_id)}
        results = [_result_from_row(item, rows[item.id]) for item in items if item.id in rows]
        aggregate = task.aggregate(results)
        run = session.get(store.EvalRun, run_id)
        assert run is not None
        run.status, run.score, run.n = "done", aggregate.score, len(results)
        run.metrics = aggregate.metrics
        run.finished_at = datetime.now(UTC)
        run.meta = {**(run.meta or {}), "errors": sum(1 for r in rows.values() if r.error)}
        wall = run.wall_s
    return RunSummary(run_id=run_id, task=task.id, model=model_id, engine=label, prompt_version=task.prompt_version,
                      shots=shots, n=len(results), score=aggregate.score, metrics=aggregate.metrics, wall_s=wall,
                      resumed_items=resumed, errors=errors, skipped_rows=dataset.skipped)


async def run_tasks(tasks: Sequence[Task], engine: Engine, db: Database, **options: Any) -> list[RunSummary]:
    """Run several tasks one after the other on the same engine."""
    return [await run_task(task, engine, db, **options) for task in tasks]


async def check_engine(engine: Engine) -> None:
    """Fail early, with the engine's own hint, when a real engine is not reachable."""
    if isinstance(engine, FakeEngine):
        return
    health = await engine.health()
    if not health.ok:
        raise EngineUnavailable(health.detail)
