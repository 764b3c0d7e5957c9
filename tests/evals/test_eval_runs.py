"""Bad benchmark input gives a clear error naming file and row; interrupted runs resume; storage."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hkllm.engine import ChatRequest, FakeEngine
from hkllm.errors import EngineUnavailable, InvalidRequest
from hkllm.evals import runner, store
from hkllm.evals.runner import (
    EvalAborted,
    OracleEngine,
    UnknownEngine,
    resolve_engine,
    run_task,
)
from hkllm.evals.task import BenchmarkFormatError, BenchmarkNotFound, UnknownTask, get_task, parse_task_list
from hkllm.settings import load_settings
from hkllm.store.db import Database

ARC_ROWS = [
    {"id": f"q{i}", "question": f"第{i}題：邊個啱？", "A": "甲", "B": "乙", "C": "丙", "D": "丁", "answer": "ABCD"[i % 4],
     "no": i}
    for i in range(1, 11)
]


def write_arc(root: Path, rows: Any) -> Path:
    path = root / "yue-benchmark" / "Yue-ARC-C" / "Yue-ARC-C.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    database = Database(f"sqlite:///{tmp_path / 'eval.db'}")
    yield database
    database.dispose()


# ---------------------------------------------------------------------------------------------------
# Bad input


def test_missing_field_names_file_and_row(tmp_path: Path) -> None:
    rows = [dict(r) for r in ARC_ROWS]
    del rows[2]["question"]
    path = write_arc(tmp_path, rows)
    with pytest.raises(BenchmarkFormatError) as exc:
        get_task("yue-arc-c").load(tmp_path)
    message = str(exc.value)
    assert str(path) in message and "row 3" in message and "'question'" in message
    assert isinstance(exc.value, InvalidRequest) and exc.value.row == 3


def test_changed_schema_names_the_new_fields(tmp_path: Path) -> None:
    path = tmp_path / "yue-benchmark" / "Yue-TruthfulQA" / "Yue-TruthfulQA.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"question": "點解？", "best_answer": "因為", "correct_answers": ["因為"],
                                 "incorrect_answers": ["唔知"]}], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"Yue-TruthfulQA\.json: row 1: missing field 'true', 'false'.*"
                                                   r"unexpected: correct_answers, incorrect_answers"):
        get_task("yue-truthfulqa").load(tmp_path)


def test_not_an_array_and_bad_json(tmp_path: Path) -> None:
    path = write_arc(tmp_path, {"data": ARC_ROWS})
    with pytest.raises(BenchmarkFormatError, match="expected a JSON array of objects, found a JSON dict"):
        get_task("yue-arc-c").load(tmp_path)
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"Yue-ARC-C\.json: not valid JSON \(line 1"):
        get_task("yue-arc-c").load(tmp_path)


def test_wrong_types_and_bad_answers(tmp_path: Path) -> None:
    rows = [dict(r) for r in ARC_ROWS]
    rows[4]["answer"] = "F"
    write_arc(tmp_path, rows)
    with pytest.raises(BenchmarkFormatError, match=r"row 5: answer 'F' is not one of the options A, B, C, D"):
        get_task("yue-arc-c").load(tmp_path)
    rows[4]["answer"] = "A"
    rows[6]["question"] = 7
    write_arc(tmp_path, rows)
    with pytest.raises(BenchmarkFormatError, match=r"row 7: field 'question' should be str, found int"):
        get_task("yue-arc-c").load(tmp_path)


def test_gsm8k_answer_without_final_number(tmp_path: Path) -> None:
    path = tmp_path / "yue-benchmark" / "Yue-GSM8K" / "Yue-GSM8K.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"question": "1+1?", "answer": "1+1=2。####2"},
                                {"question": "2+2?", "answer": "係4"}], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"Yue-GSM8K\.json: row 2: .*####<number>"):
        get_task("yue-gsm8k").load(tmp_path)


def test_csv_with_a_changed_column_count(tmp_path: Path) -> None:
    for sub in ("cultural", "dse", "hk-law", "linguistic_knowledge"):
        (tmp_path / "hkcanto-eval" / sub / "test").mkdir(parents=True)
    good = "問題？,甲,乙,丙,丁,A\n"
    for sub in ("cultural", "dse", "hk-law"):
        (tmp_path / "hkcanto-eval" / sub / "test" / "x_test.csv").write_text(good * 2, encoding="utf-8")
    lk = tmp_path / "hkcanto-eval" / "linguistic_knowledge" / "test" / "phonology_test.csv"
    lk.write_text("Q1?,a,b,c,d,None of the above,E\nQ2?,a,b,c,d,B\n", encoding="utf-8")  # 6 columns, needs 7
    with pytest.raises(BenchmarkFormatError, match=r"phonology_test\.csv: row 2 \(line 2\): expected 7 columns, found 6"):
        get_task("hkcanto-mcq").load(tmp_path)
    ds = get_task("hkcanto-mcq").load(tmp_path, skip_invalid=True)
    assert len(ds.items) == 7 and len(ds.skipped) == 1 and "row 2" in ds.skipped[0]


def test_jsonl_with_a_broken_line(tmp_path: Path) -> None:
    nlp = tmp_path / "hkcanto-eval" / "canto-nlp"
    nlp.mkdir(parents=True)
    row = {"#": 1, "SourceL": "eng", "TargetL": "yue", "SourceText": "Hi", "TargetText": "你好"}
    for src, tgt in (("eng", "yue"), ("yue", "eng"), ("yue", "zh"), ("zh", "yue")):
        r = dict(row, SourceL=src, TargetL=tgt)
        (nlp / f"{src}_{tgt}_test.json").write_text(json.dumps(r) + "\n", encoding="utf-8")
    (nlp / "yue_zh_test.json").write_text(json.dumps(dict(row, SourceL="yue", TargetL="zh")) + "\n\n{oops\n")
    with pytest.raises(BenchmarkFormatError, match=r"yue_zh_test\.json: row 2 \(line 3\): not valid JSON"):
        get_task("hkcanto-trans").load(tmp_path)
    (nlp / "yue_zh_test.json").write_text(json.dumps(row) + "\n")  # says eng->yue inside yue_zh
    with pytest.raises(BenchmarkFormatError, match=r"row 1 \(line 1\): direction eng->yue does not match"):
        get_task("hkcanto-trans").load(tmp_path)


def test_missing_files_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkNotFound, match="Yue-ARC-C.json not found under"):
        get_task("yue-arc-c").load(tmp_path)
    with pytest.raises(BenchmarkNotFound, match="does not exist"):
        get_task("yue-arc-c").load(tmp_path / "nope")
    with pytest.raises(UnknownTask, match=r"unknown task 'yue-arc'; known tasks: yue-truthfulqa, .*lang-fidelity"):
        parse_task_list(["yue-arc-c,yue-arc"])
    assert [t.id for t in parse_task_list(["yue-arc-c", "yue-gsm8k,yue-arc-c"])] == ["yue-arc-c", "yue-gsm8k"]
    with pytest.raises(UnknownEngine):
        resolve_engine("carrier-pigeon", load_settings())


def test_resolve_engine_default_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HKLLM_ENGINE_URL", raising=False)
    embedded = resolve_engine(None, load_settings(embedded_port=8123, engine_url=None))
    assert embedded.base_url == "http://127.0.0.1:8123/v1"  # type: ignore[attr-defined]
    remote = resolve_engine(None, load_settings(engine_url="http://gpu:9000/v1"))
    assert remote.base_url == "http://gpu:9000/v1"  # type: ignore[attr-defined]
    assert resolve_engine("http://x:1/v1/", load_settings()).base_url == "http://x:1/v1"  # type: ignore[attr-defined]
    assert isinstance(resolve_engine("fake:wrong", load_settings()), OracleEngine)


# ---------------------------------------------------------------------------------------------------
# Resume


def _answers(task_id: str, data_dir: Path) -> dict[str, str]:
    task = get_task(task_id)
    ds = task.load(data_dir)
    return {task.messages(i, [])[-1]["content"]: task.reference_reply(i) for i in ds.items}


def test_interrupted_run_resumes_where_it_stopped(tmp_path: Path, db) -> None:  # noqa: ANN001
    write_arc(tmp_path, ARC_ROWS)
    answers = _answers("yue-arc-c", tmp_path)
    calls = {"n": 0}

    def crashing(request: ChatRequest) -> str:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the 5th item
        return answers[request.messages[-1].text()]

    task = get_task("yue-arc-c")
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run_task(task, FakeEngine(default=crashing, model="m"), db, data_dir=tmp_path))
    with db.session() as session:
        run = session.scalars(select(store.EvalRun)).one()
        assert run.status == "running" and len(store.items_of(session, run.id)) == 4

    engine = FakeEngine(default=lambda r: answers[r.messages[-1].text()], model="m")
    summary = asyncio.run(run_task(task, engine, db, data_dir=tmp_path))
    assert summary.run_id == run.id and summary.resumed_items == 4
    assert len(engine.requests) == 6 and summary.n == 10 and summary.score == 1.0
    with db.session() as session:
        assert session.get(store.EvalRun, run.id).status == "done"  # type: ignore[union-attr]
        assert len(store.items_of(session, run.id)) == 10

    again = asyncio.run(run_task(task, engine, db, data_dir=tmp_path))  # a finished run is not resumed
    assert again.run_id != run.id and again.resumed_items == 0


def test_engine_errors_abort_and_are_retried_on_resume(tmp_path: Path, db, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(runner, "RETRY_DELAY_S", 0.0)
    write_arc(tmp_path, ARC_ROWS)
    answers = _answers("yue-arc-c", tmp_path)
    state = {"n": 0}

    def flaky(request: ChatRequest) -> str:
        state["n"] += 1
        if state["n"] == 2 or state["n"] > 8:  # one transient failure, then the engine goes away
            raise EngineUnavailable("connection refused")
        return answers[request.messages[-1].text()]

    task = get_task("yue-arc-c")
    with pytest.raises(EvalAborted, match="run the same command again to resume"):
        asyncio.run(run_task(task, FakeEngine(default=flaky, model="m"), db, data_dir=tmp_path))
    with db.session() as session:
        run = session.scalars(select(store.EvalRun)).one()
        rows = store.items_of(session, run.id)
        assert run.status == "running" and len(rows) == 9  # items 8 and 9 failed every attempt
        assert [r.error is not None for r in rows] == [False] * 7 + [True] * 2
    engine = FakeEngine(default=lambda r: answers[r.messages[-1].text()], model="m")
    summary = asyncio.run(run_task(task, engine, db, data_dir=tmp_path))
    assert summary.resumed_items == 7 and len(engine.requests) == 3  # failed items are asked again
    assert summary.score == 1.0 and summary.n == 10


def test_changed_data_starts_a_new_run(tmp_path: Path, db) -> None:  # noqa: ANN001
    write_arc(tmp_path, ARC_ROWS)
    task = get_task("yue-arc-c")
    first = asyncio.run(run_task(task, OracleEngine(), db, data_dir=tmp_path, limit=3))
    write_arc(tmp_path, ARC_ROWS[:9])
    second = asyncio.run(run_task(task, OracleEngine(), db, data_dir=tmp_path, limit=3))
    assert first.run_id != second.run_id


def test_per_item_rows_are_stored(tmp_path: Path, db) -> None:  # noqa: ANN001
    write_arc(tmp_path, ARC_ROWS)
    summary = asyncio.run(run_task(get_task("yue-arc-c"), OracleEngine("wrong"), db, data_dir=tmp_path, limit=4,
                                   shots=2, model="my-model"))
    with db.session() as session:
        run = session.get(store.EvalRun, summary.run_id)
        assert run is not None
        assert (run.model, run.engine, run.task, run.prompt_version, run.shots, run.n) == (
            "my-model", "fake:wrong", "yue-arc-c", "v1", 2, 4)
        assert run.finished_at is not None and run.score == 0.0
        rows = store.items_of(session, run.id)
        assert [r.item_id for r in rows] == [f"Yue-ARC-C.json#{i}" for i in range(1, 5)]
        assert rows[0].output == "答案係 C" and rows[0].prediction == "C" and rows[0].reference == "B"
        assert rows[0].correct is False and len(rows[0].messages) == 1 + 2 * 2 + 1


def test_limit_and_data_dir_checks(tmp_path: Path, db) -> None:  # noqa: ANN001
    with pytest.raises(InvalidRequest, match="pass --data-dir"):
        asyncio.run(run_task(get_task("yue-arc-c"), OracleEngine(), db, data_dir=None))
