"""``hkllm kb ...`` commands and the ``/v1/kb`` API router."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hkllm.cli import app as root_app

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hk-legislation"


def hklm(cap: str, lang: str, sections: dict[str, tuple[str, str]], *, date: str = "2024-01-01",
         schedule: dict[str, tuple[str, str]] | None = None) -> str:
    def section(num: str, heading: str, body: str) -> str:
        return (f'<section name="s{num}" temporalId="s{num}"><num value="{num}">{num}.</num><heading>{heading}'
                f'</heading><subsection name="1" temporalId="s{num}_1"><num value="1">(1)</num><content>{body}'
                f'</content></subsection></section>')

    main = "".join(section(n, h, b) for n, (h, b) in sections.items())
    sched = ""
    if schedule:
        sched = ('<schedule name="sch1" temporalId="sch1"><num value="1">Schedule 1</num><heading>Principles'
                 '</heading>' + "".join(section(n, h, b) for n, (h, b) in schedule.items()) + "</schedule>")
    title = "Test Ordinance" if lang == "en" else "測試條例"
    return (f'<?xml version="1.0" encoding="UTF-8"?><ordinance xmlns="http://www.xml.gov.hk/schemas/hklm/1.0" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="{lang}"><meta><docName>Cap. {cap}</docName>'
            f'<docType>cap</docType><docNumber>{cap}</docNumber><docStatus>In effect</docStatus>'
            f'<dc:identifier>/hk/cap{cap}!{lang}</dc:identifier><dc:date>{date}</dc:date></meta>'
            f'<main xml:lang="{lang}"><longTitle><content>{title}</content></longTitle>'
            f'<part name="P1" temporalId="P1"><num value="1">Part 1</num><heading>Part</heading>{main}</part>'
            f'{sched}</main></ordinance>')


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HKLLM_KB_EMBEDDER", "hash")
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "cap_901_en.xml").write_text(hklm("901", "en", {
        "18": ("Data access request", "An individual may make a data access request to a data user."),
        "26": ("Erasure", "A data user must erase personal data no longer required."),
    }, schedule={"4": ("Principle 4", "A data user must protect personal data against unauthorized access.")}),
        encoding="utf-8")
    (folder / "cap_901_zh.xml").write_text(hklm("901", "zh-Hant-HK", {
        "18": ("查閱資料要求", "任何個人可向資料使用者提出查閱資料要求。"),
        "26": ("刪除資料", "資料使用者須刪除不再需要的個人資料。"),
    }, schedule={"4": ("第4原則", "資料使用者須保障個人資料不受未獲准許的查閱。")}), encoding="utf-8")
    return folder


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(root_app, ["kb", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_ingest_search_show_stats_verify(corpus: Path, tmp_path: Path) -> None:
    code, out, err = run("ingest", str(corpus), "--no-progress")
    assert code == 0, err
    assert "2 added" in out
    code, out, _ = run("ingest", str(corpus), "--no-progress")
    assert code == 0 and "2 skipped" in out

    code, out, _ = run("search", "erase personal data", "-k", "2", "--json")
    assert code == 0
    hits = json.loads(out)
    assert isinstance(hits, list) and 1 <= len(hits) <= 2
    top = hits[0]
    assert {"citation", "text", "score"} <= set(top)
    assert {"kind", "cap", "section", "schedule", "neutral_citation", "lang"} <= set(top["citation"])
    assert top["citation"]["kind"] == "legislation" and top["citation"]["cap"] == "901"
    assert top["citation"]["section"] == "26" and top["citation"]["schedule"] is None
    assert top["citation"]["lang"] == "en" and isinstance(top["score"], float)

    code, out, _ = run("search", "unauthorized access protect", "-k", "1", "--json", "--lang", "zh-Hant")
    sched_hit = json.loads(out)[0]
    assert sched_hit["citation"]["schedule"] == "1" and sched_hit["citation"]["lang"] == "zh-Hant"

    code, out, _ = run("search", "查閱資料要求", "-k", "1")
    assert code == 0 and "第901章第18條" in out

    code, out, _ = run("show", "Cap. 901 s. 18", "--json")
    shown = json.loads(out)
    assert code == 0 and {u["lang"] for u in shown["units"]} == {"en", "zh-Hant"}
    assert all(u["aligned"] for u in shown["units"])
    code, out, _ = run("show", "第901章第26條", "--lang", "zh-Hant")
    assert code == 0 and "資料使用者須刪除" in out
    code, _, err = run("show", "Cap. 901 s. 99")
    assert code == 2 and "not in the knowledge base" in err

    code, out, _ = run("stats", "--json", "--check")
    stats = json.loads(out)
    assert code == 0 and stats["documents"] == 2 and stats["units"] == 6 and stats["integrity_problems"] == []

    text = "Under Cap. 901 s. 18(1) and 第901章第26條, but not Cap. 901 s. 77 nor Cap. 999 s. 1."
    code, out, _ = run("verify", "--json", stdin=text)
    assert code == 0
    checks = json.loads(out)
    resolved = {c["text"]: c["resolved"] for c in checks}
    assert resolved == {"Cap. 901 s. 18(1)": True, "第901章第26條": True, "Cap. 901 s. 77": False,
                        "Cap. 999 s. 1": False}
    code, _, _ = run("verify", "--strict", stdin=text)
    assert code == 1


def test_ingest_reports_bad_files_and_exits_nonzero(corpus: Path) -> None:
    (corpus / "broken.xml").write_text("<ordinance><meta>", encoding="utf-8")
    code, out, err = run("ingest", str(corpus), "--no-progress", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["summary"]["added"] == 2 and report["summary"]["error"] == 1
    bad = [o for o in report["outcomes"] if o["status"] == "error"]
    assert bad[0]["source"].endswith("broken.xml") and bad[0]["message"]


def test_search_rejects_bad_filters(corpus: Path) -> None:
    run("ingest", str(corpus), "--no-progress")
    code, _, err = run("search", "x", "--as-of", "yesterday")
    assert code == 2 and "as_of" in err
    code, _, err = run("search", "x", "--mode", "psychic")
    assert code == 2 and "mode" in err


@pytest.fixture
def api(corpus: Path) -> TestClient:
    """The real app (KB router mounted by build_app) over a fake chat engine."""
    from hkllm.api.app import build_app
    from hkllm.engine import FakeEngine
    from hkllm.settings import Settings

    return TestClient(build_app(Settings(), FakeEngine()))


def test_api_routes(api: TestClient, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = (corpus / "cap_901_en.xml").read_bytes()
    r = api.post("/v1/kb/ingest", params={"filename": "cap_901_en.xml"}, content=upload)
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["added"] == 1
    again = api.post("/v1/kb/ingest", params={"filename": "cap_901_en.xml"}, content=upload).json()
    assert again["summary"]["skipped"] == 1

    r = api.get("/v1/kb/search", params={"q": "data access request", "k": 1})
    assert r.status_code == 200
    hit = r.json()["data"][0]
    assert hit["citation"]["section"] == "18"
    unit = api.get(f"/v1/kb/units/{hit['unit_id']}").json()
    assert unit["text"].startswith("(1) An individual")
    assert api.get("/v1/kb/units/999999").status_code == 404
    assert api.get("/v1/kb/show", params={"ref": "Cap. 901 s. 26"}).json()["units"][0]["citation"]["section"] == "26"
    assert api.get("/v1/kb/stats").json()["documents"] == 1
    v = api.post("/v1/kb/verify", json={"text": "See Cap. 901 s. 26 and Cap. 901 s. 27."}).json()
    assert [c["resolved"] for c in v["citations"]] == [True, False]
    assert api.get("/v1/kb/search", params={"q": "x", "lang": "klingon"}).status_code == 400

    api.app.state.kb.max_upload_bytes = 100
    r = api.post("/v1/kb/ingest", params={"filename": "big.xml"}, content=upload)
    assert r.status_code == 413


def test_api_key_required_when_configured(api: TestClient) -> None:
    api.app.state.settings.api_keys = ["sekrit"]
    assert api.get("/v1/kb/stats").status_code == 401
    assert api.get("/v1/kb/stats", headers={"Authorization": "Bearer sekrit"}).status_code == 200


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data (hk-legislation) not present")
def test_cli_on_cap486(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HKLLM_KB_EMBEDDER", "hash")
    code, out, err = run("ingest", str(SHARED / "cap_486_en_c"), str(SHARED / "cap_486_zh-Hant_c"), "--no-progress")
    assert code == 0, err
    code, out, _ = run("search", "direct marketing consent", "-k", "5", "--json", "--mode", "bm25")
    sections = [h["citation"]["section"] for h in json.loads(out)]
    assert any(s and s.startswith("35") for s in sections)
    code, out, _ = run("verify", "--json", stdin="《個人資料(私隱)條例》第35E條 and Cap. 486 s. 35Z")
    assert [c["resolved"] for c in json.loads(out)] == [True, False]
