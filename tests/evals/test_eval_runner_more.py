"""The eval runner beyond resume: engine resolution (the API key goes only to its own server), model names,
retries and timeouts, ``fresh``, ``limit``, shots, callbacks; the store queries; the HTML report (escaping,
published anchors kept apart, plots); task-specific scoring and aggregation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hkllm.engine import ChatRequest, EngineHealth, FakeEngine
from hkllm.errors import EngineError, EngineUnavailable, InvalidRequest
from hkllm.evals import report, runner, store
from hkllm.evals.runner import (
    EvalAborted,
    OracleEngine,
    RunSummary,
    UnknownEngine,
    check_engine,
    engine_label,
    model_name,
    resolve_engine,
    run_task,
    run_tasks,
)
from hkllm.evals.task import Item, ItemResult, Scored, get_task
from hkllm.evals.tasks.lang_fidelity import PROMPTS, LangFidelity
from hkllm.evals.tasks.yue_truthfulqa import split_answers
from hkllm.settings import load_settings
from hkllm.store.db import Database

ROWS = [{"id": f"q{i}", "question": f"第{i}題：邊個啱？", "A": "甲", "B": "乙", "C": "丙", "D": "丁",
         "answer": "ABCD"[i % 4]} for i in range(1, 7)]


@pytest.fixture
def arc_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bench" / "yue-benchmark" / "Yue-ARC-C" / "Yue-ARC-C.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    return tmp_path / "bench"


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    database = Database(f"sqlite:///{tmp_path / 'eval.db'}")
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "RETRY_DELAY_S", 0.0)


def answers(data_dir: Path) -> dict[str, str]:
    task = get_task("yue-arc-c")
    return {task.messages(i, [])[-1]["content"]: task.reference_reply(i) for i in task.load(data_dir).items}


# ---------------------------------------------------------------- engines


def test_the_api_key_goes_only_to_the_configured_server(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, str | None]] = []

    class Recording:
        def __init__(self, url: str, *, api_key: str | None = None, **_: Any) -> None:
            made.append((url, api_key))

    monkeypatch.setattr(runner, "OpenAICompatibleEngine", Recording)
    settings = load_settings(engine_url="http://gpu:9000/v1", engine_api_key="sk-secret")
    resolve_engine("http://gpu:9000/v1/", settings)
    resolve_engine("http://evil.example:1/v1", settings)
    resolve_engine("https://gpu:9000/v1", settings)
    assert made == [("http://gpu:9000/v1/", "sk-secret"), ("http://evil.example:1/v1", None), ("https://gpu:9000/v1", None)]


@pytest.mark.parametrize("spec", ["fake", "fake:correct", "fake:wrong"])
def test_fake_engine_specs(spec: str) -> None:
    engine = resolve_engine(spec, load_settings())
    assert isinstance(engine, OracleEngine) and engine.mode == (spec.partition(":")[2] or "correct")
    assert engine_label(engine) == f"fake:{engine.mode}"


@pytest.mark.parametrize("spec", ["fake:maybe", "ftp://x/v1", "gpt-4", "local"])
def test_unknown_engine_specs(spec: str) -> None:
    with pytest.raises(UnknownEngine) as info:
        resolve_engine(spec, load_settings())
    assert info.value.status == 400 and info.value.code == "unknown_engine"


def test_engine_labels() -> None:
    assert engine_label(FakeEngine()) == "fake"
    remote = resolve_engine("http://x:1/v1/", load_settings())
    assert engine_label(remote) == "http://x:1/v1"


class ListingEngine(FakeEngine):
    """An engine without a default model: its name comes from /models."""

    def __init__(self, models: list[dict[str, Any]] | Exception) -> None:
        super().__init__(default="答案係 A")
        self.model = ""
        self._models = models

    async def list_models(self) -> list[dict[str, Any]]:
        if isinstance(self._models, Exception):
            raise self._models
        return self._models


@pytest.mark.parametrize(
    ("engine", "explicit", "name"),
    [
        (FakeEngine(model="qwen"), None, "qwen"),
        (FakeEngine(model="qwen"), "my-model", "my-model"),
        (ListingEngine([{"id": "listed"}, {"id": "second"}]), None, "listed"),
        (ListingEngine([]), None, "unknown"),
        (ListingEngine(EngineUnavailable("down")), None, "unknown"),
    ],
)
def test_model_name(engine: FakeEngine, explicit: str | None, name: str) -> None:
    assert asyncio.run(model_name(engine, explicit)) == name


def test_check_engine() -> None:
    asyncio.run(check_engine(FakeEngine()))  # fakes are never checked

    class Down:
        name = "down"

        async def health(self) -> EngineHealth:
            return EngineHealth(ok=False, detail="connection refused at http://127.0.0.1:8011/v1")

    with pytest.raises(EngineUnavailable, match="connection refused"):
        asyncio.run(check_engine(Down()))  # type: ignore[arg-type]


def test_oracle_engine_refuses_untaught_prompts_and_bad_modes() -> None:
    with pytest.raises(UnknownEngine, match="'correct' or 'wrong'"):
        OracleEngine("perfect")
    with pytest.raises(EngineError, match="not taught"):
        asyncio.run(OracleEngine().complete(ChatRequest(messages=[{"role": "user", "content": "hi"}])))


# ---------------------------------------------------------------- running


def test_requests_are_deterministic(arc_dir: Path, db: Database) -> None:
    table = answers(arc_dir)
    engine = FakeEngine(default=lambda r: table[r.messages[-1].text()], model="m")
    summary = asyncio.run(run_task(get_task("yue-arc-c"), engine, db, data_dir=arc_dir, limit=2, shots=1))
    assert summary.n == 2 and summary.score == 1.0 and summary.shots == 1
    for request in engine.requests:
        assert (request.temperature, request.top_p, request.seed, request.max_tokens) == (0.0, 1.0, runner.SEED, 24)
        assert request.model is None  # no --model: the engine's default
        assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]


def test_shots_are_clamped_and_model_is_sent(arc_dir: Path, db: Database) -> None:
    engine = FakeEngine(default="答案係 A", model="m")
    summary = asyncio.run(run_task(get_task("lang-fidelity"), engine, db, data_dir=None, limit=1, shots=3,
                                   model="qwen2.5"))
    assert summary.shots == 0  # lang-fidelity allows no shots
    assert engine.requests[0].model == "qwen2.5" and summary.model == "qwen2.5"


def test_fresh_starts_a_new_run_and_limit_is_checked(arc_dir: Path, db: Database) -> None:
    task = get_task("yue-arc-c")
    first = asyncio.run(run_task(task, OracleEngine(), db, data_dir=arc_dir, limit=0))
    assert first.n == 0 and first.score == 0.0
    again = asyncio.run(run_task(task, OracleEngine(), db, data_dir=arc_dir, fresh=True))
    assert again.run_id != first.run_id and again.n == 6 and again.score == 1.0
    with pytest.raises(InvalidRequest, match="--limit must be >= 0"):
        asyncio.run(run_task(task, OracleEngine(), db, data_dir=arc_dir, limit=-1))


class SlowOn:
    """Answers every prompt except those containing ``slow``, which never finish."""

    name = "slow"

    def __init__(self, table: dict[str, str], slow: str) -> None:
        self.table, self.slow, self.calls = table, slow, 0

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        self.calls += 1
        text = request.messages[-1].text()
        if self.slow in text:
            await asyncio.sleep(30)
        return {"choices": [{"message": {"role": "assistant", "content": self.table[text]}}]}

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": "slow-model"}]


def test_a_hanging_item_times_out_is_retried_and_recorded(arc_dir: Path, db: Database) -> None:
    engine = SlowOn(answers(arc_dir), "第2題")
    summary = asyncio.run(run_task(get_task("yue-arc-c"), engine, db, data_dir=arc_dir, timeout_s=-4.95))  # type: ignore[arg-type]
    assert summary.errors == 1 and summary.n == 6 and summary.score == pytest.approx(5 / 6)
    assert engine.calls == 5 + 1 + runner.RETRIES  # the slow item was asked 1 + RETRIES times
    assert summary.model == "slow-model"
    with db.session() as session:
        rows = store.items_of(session, summary.run_id)
        failed = [r for r in rows if r.error]
        assert [r.item_id for r in failed] == ["Yue-ARC-C.json#2"] and failed[0].error.startswith("TimeoutError")
        assert failed[0].output == "" and failed[0].value == 0.0
        assert session.get(store.EvalRun, summary.run_id).meta["errors"] == 1  # type: ignore[union-attr]


def test_three_failures_in_a_row_abort(arc_dir: Path, db: Database) -> None:
    engine = FakeEngine(default=EngineUnavailable("connection refused"), model="m")
    with pytest.raises(EvalAborted) as info:
        asyncio.run(run_task(get_task("yue-arc-c"), engine, db, data_dir=arc_dir))
    assert info.value.status == 503 and "3 items in a row" in str(info.value)
    assert len(engine.requests) == runner.MAX_CONSECUTIVE_FAILURES * (1 + runner.RETRIES)
    with db.session() as session:
        run = session.scalars(select(store.EvalRun)).one()
        assert run.status == "running" and run.wall_s > 0  # saved for resuming, wall time kept


def test_on_item_callback_and_run_tasks(arc_dir: Path, db: Database) -> None:
    seen: list[tuple[str, str]] = []
    summaries = asyncio.run(run_tasks([get_task("yue-arc-c"), LangFidelity(detector=lambda t: type("G", (), {
        "label": "yue"})())], OracleEngine(), db, data_dir=arc_dir, limit=2,
        on_item=lambda item, out: seen.append((item.id, out))))
    assert [s.task for s in summaries] == ["yue-arc-c", "lang-fidelity"]
    assert seen[:2] == [("Yue-ARC-C.json#1", "答案係 B"), ("Yue-ARC-C.json#2", "答案係 C")] and len(seen) == 4


def test_run_summary_json() -> None:
    summary = RunSummary(run_id=3, task="t", model="m", engine="e", prompt_version="v1", shots=0, n=2,
                         score=0.123456789, metrics={"x": 1}, wall_s=1.23456, skipped_rows=["a", "b"])
    data = summary.as_json()
    assert data["score"] == 0.123457 and data["wall_s"] == 1.23 and data["skipped_rows"] == 2
    assert json.loads(json.dumps(data)) == data


# ---------------------------------------------------------------- store


def _run(session: Any, **overrides: Any) -> store.EvalRun:
    fields: dict[str, Any] = dict(task="t", model="m", engine="e", prompt_version="v1", shots=0, max_tokens=8,
                                  seed=1, data_fingerprint="f", status="running", n=0, metrics={}, wall_s=0.0, meta={})
    fields.update(overrides)
    run = store.EvalRun(**fields)
    session.add(run)
    session.flush()
    return run


def test_find_resumable_needs_every_setting_to_match(db: Database) -> None:
    key = dict(task="t", model="m", engine="e", prompt_version="v1", shots=0, max_tokens=8, seed=1, data_fingerprint="f")
    with db.session() as session:
        old = _run(session)
        new = _run(session)
        _run(session, status="done")
        _run(session, shots=1)
        assert store.find_resumable(session, **key).id == new.id  # type: ignore[union-attr,arg-type]
        assert store.find_resumable(session, **{**key, "data_fingerprint": "g"}) is None  # type: ignore[arg-type]
        assert old.id < new.id
        assert [r.status for r in store.list_runs(session)] == ["running", "running", "done", "running"]
        assert len(store.list_runs(session, status="done")) == 1


def test_drop_failed_items(db: Database) -> None:
    with db.session() as session:
        run = _run(session)
        for n, error in enumerate([None, "EngineUnavailable: down", None, "TimeoutError: "]):
            session.add(store.EvalItem(run_id=run.id, item_id=f"i{n}", position=n, subset="s", messages=[], output="",
                                       reference="r", value=0.0, error=error, duration_ms=1.0))
        session.flush()
        assert store.drop_failed_items(session, run.id) == 2
        assert [r.item_id for r in store.items_of(session, run.id)] == ["i0", "i2"]


# ---------------------------------------------------------------- report


def test_report_escapes_model_output_and_keeps_published_figures_apart(arc_dir: Path, db: Database,
                                                                        tmp_path: Path) -> None:
    task = get_task("yue-arc-c")
    asyncio.run(run_task(task, OracleEngine(), db, data_dir=arc_dir))
    evil = FakeEngine(default="<script>alert(1)</script> 答案係 A", model="evil<model>")
    asyncio.run(run_task(task, evil, db, data_dir=arc_dir))
    html = report.build_report(db, title="HK <eval>")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "evil&lt;model&gt;" in html and "<title>HK &lt;eval&gt;</title>" in html
    assert "100.0 <span class='note'>(n=6)</span>" in html  # the oracle's run
    assert "<td class='pub num'>92.06</td>" in html and "not measured here" in html
    assert html.count("<img ") == 3  # scores, wall time and, with two runs of one task, the history
    assert "http://" not in html.split("<body>", 1)[1].replace("arXiv", "")  # nothing loaded from the network
    out = report.write_report(db, tmp_path / "deep" / "dir" / "report.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_lists_plugin_tasks_and_counts_unfinished_runs(db: Database) -> None:
    with db.session() as session:
        _run(session, task="plugin-task", status="done", score=0.5, n=2)
        _run(session, task="yue-arc-c", status="running")
    html = report.build_report(db)
    assert "<td>plugin-task</td>" in html and "50.0" in html
    assert "2 stored run(s) (1 finished)" in html
    assert html.count("<img ") == 2  # one run per task: no history plot


# ---------------------------------------------------------------- task-specific scoring


def test_lang_fidelity_scores_with_the_detector_and_builds_a_confusion_table() -> None:
    labels = {sample: lang for lang, _, sample in PROMPTS}
    task = LangFidelity(detector=lambda text: type("G", (), {"label": labels.get(text, "en")})())
    items = task.load().items
    assert len(items) == 40 and [i.subset for i in items[:4]] == ["yue", "zh-Hant", "zh-Hans", "en"]
    results = [ItemResult(i, task.reference_reply(i) if n % 2 == 0 else "Totally English.", task.score(
        i, task.reference_reply(i) if n % 2 == 0 else "Totally English.")) for n, i in enumerate(items[:8])]
    agg = task.aggregate(results)
    assert agg.score == pytest.approx(6 / 8)  # four samples, plus the two English prompts answered in English
    assert agg.metrics["confusion"] == {"yue": {"yue": 2}, "zh-Hant": {"en": 2}, "zh-Hans": {"zh-Hans": 2},
                                        "en": {"en": 2}}
    assert task.score(items[0], "   ").prediction == "und"


def test_lang_fidelity_with_the_real_detector_on_hk_replies() -> None:
    task = LangFidelity()
    item = Item(id="x", subset="yue", prompt="點樣去荃灣？", answer="yue")
    assert task.score(item, "你可以喺旺角搭港鐵荃灣綫，坐到荃灣站就得㗎喇。").correct is True
    assert task.score(item, "你可以在旺角乘搭港鐵荃灣綫，到荃灣站便可。").prediction == "zh-Hant"
    assert task.score(item, "Take the MTR Tsuen Wan Line from Mong Kok.").prediction == "en"


@pytest.mark.parametrize(("text", "parts"), [("冇咩事；西瓜核會經過你嘅消化系統。", ["冇咩事", "西瓜核會經過你嘅消化系統"]),
                                            ("A; B;;", ["A", "B"]), ("。", [])])
def test_truthfulqa_answer_splitting(text: str, parts: list[str]) -> None:
    assert split_answers(text) == parts


def test_gsm8k_scoring_and_replies() -> None:
    task = get_task("yue-gsm8k")
    item = Item(id="g", subset="gsm8k", prompt="1+1?", answer="18", meta={"worked": "9*2=18。"})
    assert task.reference_reply(item) == "9*2=18。\n答案係 18"
    assert task.wrong_reply(item) == "答案係 19"
    assert task.score(item, "所以佢每日賺 $18。").correct is True
    assert task.score(item, "答案係十八").correct is True
    assert task.score(item, "我唔識計").value == 0.0
    assert task.score(item, "").prediction is None


def test_hkcanto_mcq_breaks_down_by_category() -> None:
    task = get_task("hkcanto-mcq")
    def result(subset: str, value: float) -> ItemResult:
        return ItemResult(Item(id=subset, subset=subset, prompt="", answer="A"), "", Scored("A", value, value == 1.0))

    agg = task.aggregate([result("dse/math_en", 1.0), result("dse/math_zh", 0.0), result("hk-law/basic_law", 1.0)])
    assert agg.metrics["by_category"] == {"dse": {"score": 0.5, "n": 2}, "hk-law": {"score": 1.0, "n": 1}}
    assert set(agg.metrics["by_subset"]) == {"dse/math_en", "dse/math_zh", "hk-law/basic_law"}
    assert agg.score == pytest.approx(2 / 3)

