"""``hkllm eval list | run | runs | report`` through the real top-level CLI, plus the migration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from hkllm.cli import app
from hkllm.evals import store  # noqa: F401  (tables on Base.metadata)
from hkllm.store.db import Base, Database

TASK_IDS = ["yue-truthfulqa", "yue-gsm8k", "yue-arc-c", "yue-mmlu", "yue-trans", "hkcanto-mcq", "hkcanto-trans",
            "lang-fidelity"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "yue-benchmark"
    arc = [{"id": f"q{i}", "question": f"第{i}題", "A": "甲", "B": "乙", "C": "丙", "D": "丁", "answer": "ABCD"[i % 4],
            "no": i} for i in range(6)]
    gsm = [{"question": f"{i} 加 {i} 係幾多？", "answer": f"{i}+{i}={2 * i}。####{2 * i}"} for i in range(1, 6)]
    for sub, name, rows in (("Yue-ARC-C", "Yue-ARC-C.json", arc), ("Yue-GSM8K", "Yue-GSM8K.json", gsm)):
        (root / sub).mkdir(parents=True)
        (root / sub / name).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return tmp_path / "data"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_list_prints_every_task_id() -> None:
    result = CliRunner().invoke(app, ["eval", "list"])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == TASK_IDS


def test_run_json_report(tmp_path: Path, data_dir: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    for engine, expected in (("fake:correct", 1.0), ("fake:wrong", 0.0)):
        result = runner.invoke(app, ["eval", "run", "--engine", engine, "--tasks", "yue-arc-c,yue-gsm8k",
                                     "--data-dir", str(data_dir), "--limit", "4", "--shots", "1", "--json", "--db", db])
        assert result.exit_code == 0, result.output
        rows = _json_lines(result.stdout)
        assert [r["task"] for r in rows] == ["yue-arc-c", "yue-gsm8k"]
        assert all(r["score"] == expected and r["n"] == 4 and r["shots"] == 1 for r in rows)
        assert all({"task", "score", "n", "model", "engine", "wall_s", "metrics"} <= set(r) for r in rows)

    table = runner.invoke(app, ["eval", "run", "--engine", "fake", "--tasks", "yue-arc-c", "--data-dir", str(data_dir),
                                "--db", db])
    assert table.exit_code == 0 and "yue-arc-c" in table.stdout

    listed = runner.invoke(app, ["eval", "runs", "--db", db])
    assert listed.exit_code == 0 and listed.stdout.count("done") == 5

    out = tmp_path / "report" / "r.html"
    result = runner.invoke(app, ["eval", "report", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Published: GPT-4o" in html and "92.06" in html and "not measured" in html
    assert html.count("data:image/png;base64,") >= 2
    assert not re.search(r"<script|<link|src=['\"]https?:", html)  # self-contained


def test_bad_input_exits_with_a_clear_message(tmp_path: Path, data_dir: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "run", "--engine", "fake", "--tasks", "yue-arc-c,no-such-task",
                                 "--data-dir", str(data_dir), "--db", db])
    assert result.exit_code == 2 and "unknown task 'no-such-task'" in result.output

    path = data_dir / "yue-benchmark" / "Yue-GSM8K" / "Yue-GSM8K.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    rows[3] = {"question": rows[3]["question"], "solution": rows[3]["answer"]}
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["eval", "run", "--engine", "fake", "--tasks", "yue-gsm8k", "--data-dir", str(data_dir),
                                 "--db", db])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "Yue-GSM8K.json: row 4: missing field 'answer'" in flat and "unexpected: solution" in flat

    result = runner.invoke(app, ["eval", "run", "--engine", "fake", "--tasks", "yue-gsm8k", "--data-dir", str(data_dir),
                                 "--db", db, "--skip-invalid", "--json"])
    assert result.exit_code == 0 and _json_lines(result.stdout)[0]["n"] == 4

    result = runner.invoke(app, ["eval", "run", "--engine", "ftp://x", "--tasks", "yue-gsm8k", "--db", db])
    assert result.exit_code == 2 and "unknown engine" in result.output


def test_unreachable_engine_fails_fast(tmp_path: Path, data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "run", "--engine", "http://127.0.0.1:9/v1", "--tasks", "yue-arc-c",
                                      "--data-dir", str(data_dir), "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2 and "not reachable" in result.output


def test_migration_matches_the_tables(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    ours = [d for d in diffs if "eval_" in repr(d)]
    assert ours == []


def test_report_of_an_empty_database(tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = CliRunner().invoke(app, ["eval", "report", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'e.db'}"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "No finished runs yet" in html and "Published: GPT-4o" in html and "81.80" in html
