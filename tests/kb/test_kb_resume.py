"""Bad input never stops a batch or damages the store; a run killed with SIGKILL leaves a consistent store
and the next run resumes where it stopped."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.ingest.run import run_ingest
from hkllm.kb.store.open import open_store
from hkllm.kb.store.sqlite import SQLiteKBStore

REPO = Path(__file__).resolve().parents[2]


def hklm(cap: int, sections: int = 3, *, lang: str = "en", date: str = "2024-01-01",
         ns: str = "http://www.xml.gov.hk/schemas/hklm/1.0") -> str:
    body = "".join(
        f'<section name="s{i}" temporalId="s{i}"><num value="{i}">{i}.</num><heading>Heading {i} of cap {cap}'
        f'</heading><content>Provision {i} of chapter {cap}: a person must keep record number {cap * 100 + i}.'
        f'</content></section>' for i in range(1, sections + 1))
    return (f'<?xml version="1.0" encoding="UTF-8"?><ordinance xmlns="{ns}" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="{lang}"><meta><docName>Cap. {cap}</docName>'
            f'<docType>cap</docType><docNumber>{cap}</docNumber><docStatus>In effect</docStatus>'
            f'<dc:identifier>/hk/cap{cap}!{lang}</dc:identifier><dc:date>{date}</dc:date></meta>'
            f'<main xml:lang="{lang}"><part name="P1" temporalId="P1"><num value="1">Part 1</num>'
            f'<heading>Part</heading>{body}</part></main></ordinance>')


def test_bad_files_are_reported_and_the_batch_goes_on(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a_good.xml").write_text(hklm(901), encoding="utf-8")
    (batch / "b_malformed.xml").write_text(hklm(902)[:300], encoding="utf-8")
    (batch / "c_wrong_namespace.xml").write_text(hklm(903, ns="urn:not-hklm"), encoding="utf-8")
    (batch / "d_empty.xml").write_bytes(b"")
    (batch / "e_unsupported.exe").write_bytes(b"MZ\x90\x00binary")
    archive = tmp_path / "whole.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cap_904_en_c/cap_904.xml", hklm(904, sections=40))
    data = archive.read_bytes()
    (batch / "f_truncated.zip").write_bytes(data[: len(data) // 2])
    (batch / "g_good.xml").write_text(hklm(905), encoding="utf-8")

    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    first = run_ingest(store, [batch], embedder=HashEmbedder())
    by_source = {Path(o.source.split("!")[0]).name: o for o in first.outcomes}
    assert by_source["a_good.xml"].status == "added" and by_source["g_good.xml"].status == "added"
    for name in ("b_malformed.xml", "c_wrong_namespace.xml", "d_empty.xml", "e_unsupported.exe",
                 "f_truncated.zip"):
        outcome = by_source[name]
        assert outcome.status == "error", name
        assert outcome.message and outcome.code, name
    assert by_source["c_wrong_namespace.xml"].code != by_source["d_empty.xml"].code
    assert first.summary()["error"] == 5 and not first.ok
    before = store.stats()
    assert before["documents"] == 2 and before["units"] == 6

    # the same batch again: the good files are "already ingested", nothing is lost or duplicated
    second = run_ingest(store, [batch], embedder=HashEmbedder())
    again = {Path(o.source.split("!")[0]).name: o for o in second.outcomes}
    assert again["a_good.xml"].status == "skipped" and "already ingested" in again["a_good.xml"].message
    assert second.summary()["error"] == 5
    after = store.stats()
    assert (after["documents"], after["units"]) == (before["documents"], before["units"])
    assert store.check_integrity() == []


def _store_counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db, timeout=10) as conn:
        docs = conn.execute("SELECT count(*) FROM kb_document").fetchone()[0]
        units = conn.execute("SELECT count(*) FROM kb_unit").fetchone()[0]
    return int(docs), int(units)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_batch_then_resume(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    chapters = 12
    for cap in range(1, chapters + 1):
        (batch / f"cap_{cap:03d}.xml").write_text(hklm(cap, sections=5 + cap), encoding="utf-8")
    expected_units = sum(5 + cap for cap in range(1, chapters + 1))
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HKLLM_")}
    env.update(HKLLM_DATA_DIR=str(data_dir), HKLLM_KB_EMBEDDER="hash")
    cmd = [sys.executable, "-m", "hkllm", "kb", "ingest", str(batch), "--no-progress"]
    db = data_dir / "hkllm.db"

    proc = subprocess.Popen([*cmd, "--pause-after-doc", "0.4"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"ingest ended before it could be killed: {proc.communicate()}")
            if db.exists():
                try:
                    if _store_counts(db)[0] >= 3:
                        break
                except sqlite3.OperationalError:  # tables not created yet
                    pass
            time.sleep(0.05)
        else:
            pytest.fail("ingest made no progress")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    docs_then, units_then = _store_counts(db)
    assert 3 <= docs_then < chapters
    store = open_store(f"sqlite:///{db}")
    assert isinstance(store, SQLiteKBStore)
    assert store.check_integrity() == []  # PRAGMA integrity_check, FTS check, no partial document
    assert units_then == sum(d.unit_count for d in store.list_documents())

    rerun = subprocess.run([*cmd, "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    import json

    summary = json.loads(rerun.stdout)["summary"]
    assert summary["skipped"] == docs_then and summary["added"] == chapters - docs_then
    assert _store_counts(db) == (chapters, expected_units)
    assert store.check_integrity() == []
    assert len({d.key for d in store.list_documents()}) == chapters
