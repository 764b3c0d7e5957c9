"""The knowledge-base upload API (issue 11, item 4): multipart and raw bodies, documented in OpenAPI; a failed
ingest answers 422 with each file's error and leaves nothing on disk; no server path in any response; an
uploaded document's identity is (collection, name, content hash), so two different ``readme.txt`` are two
documents and replacing one is explicit (``replace``) and reported."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hkllm.api.app import build_app
from hkllm.engine import FakeEngine
from hkllm.settings import Settings
from tests.kb.test_kb_cli import corpus, hklm, run  # noqa: F401 - corpus is a fixture used below

CAP = hklm("486", "en", {"18": ("Data access request", "An individual may make a data access request.")},
           date="2022-10-01").encode()
README_A = b"# Finance readme\n\nClaims go to the finance branch before the 5th of each month.\n"
README_B = b"# Lands readme\n\nSurvey plans are filed with the lands registry within 14 days.\n"


@pytest.fixture
def api(tmp_path: Path, empty_db: Path) -> Iterator[TestClient]:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(empty_db, data / "hkllm.db")
    settings = Settings(data_dir=data, kb_embedder="hash", reply_lang="off", database_url=None, api_keys=[],
                        kb_max_upload_bytes=200_000)
    with TestClient(build_app(settings, FakeEngine()), raise_server_exceptions=False) as client:
        yield client


def data_dir(client: TestClient) -> Path:
    return Path(client.app.state.settings.data_dir)  # type: ignore[attr-defined]


def upload_files(client: TestClient) -> list[Path]:
    uploads = data_dir(client) / "kb" / "uploads"
    return sorted(p for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else []


def documents(client: TestClient) -> list[dict[str, Any]]:
    return list(client.get("/v1/kb/stats").json()["documents_list"])


def texts(client: TestClient, key: str) -> str:
    shown = client.get("/v1/kb/show", params={"ref": key}).json()
    return "\n".join(unit["text"] for unit in shown["units"])


# -- multipart and raw bodies -----------------------------------------------------------------------------

def test_a_multipart_upload_stores_the_file_not_the_form_envelope(api: TestClient) -> None:
    r = api.post("/v1/kb/ingest", files={"file": ("finance readme.txt", README_A, "text/plain")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["summary"]["added"] == 1 and body["filename"] == "finance readme.txt"
    key = body["outcomes"][0]["document_key"]
    stored = texts(api, key)
    assert "finance branch" in stored and "Content-Disposition" not in stored and "form-data" not in stored
    (kept,) = upload_files(api)
    assert kept.read_bytes() == README_A  # the file itself, not the envelope


def test_several_files_in_one_multipart_upload(api: TestClient) -> None:
    files = [("file", ("cap486.xml", CAP, "application/xml")), ("file", ("readme.txt", README_A, "text/plain"))]
    body = api.post("/v1/kb/ingest", files=files, params={"collection": "finance"}).json()
    assert [f["filename"] for f in body["files"]] == ["cap486.xml", "readme.txt"]
    assert body["summary"]["added"] == 2 and len(documents(api)) == 2


def test_a_raw_body_upload_still_works(api: TestClient) -> None:
    r = api.post("/v1/kb/ingest", params={"filename": "cap486.xml"}, content=CAP,
                 headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["outcomes"][0]["document_key"] == "cap:486:en"


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"content": CAP}, "filename"),  # raw body without a name
    ({"files": {"other": ("a.txt", b"x")}}, "file"),  # multipart without a 'file' part
    ({"data": {"file": "not a file"}, "files": {"x": ("a.txt", b"x")}}, "file"),  # 'file' as a text field
    ({"files": {"file": ("empty.txt", b"")}}, "file"),
])
def test_a_bad_upload_request_is_400_and_stores_nothing(api: TestClient, kwargs: dict[str, Any],
                                                         param: str) -> None:
    r = api.post("/v1/kb/ingest", **kwargs)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert documents(api) == [] and upload_files(api) == []


def test_openapi_documents_both_request_bodies(api: TestClient) -> None:
    operation = api.get("/openapi.json").json()["paths"]["/v1/kb/ingest"]["post"]
    content = operation["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["items"]["format"] == "binary"
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    assert {"200", "422", "413"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} >= {"filename", "collection", "replace",
                                                           "include_metadata"}


# -- failures -----------------------------------------------------------------------------------------------

def test_malformed_xml_is_422_with_the_files_error_and_nothing_is_left_on_disk(api: TestClient) -> None:
    r = api.post("/v1/kb/ingest", files={"file": ("cap999.xml", b"<ordinance><meta><docName>")})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "ingest_failed" and "cap999.xml" in body["error"]["message"]
    (outcome,) = body["outcomes"]
    assert (outcome["source"], outcome["status"]) == ("cap999.xml", "error") and outcome["message"]
    assert body["ok"] is False and body["files"][0]["stored"] is False
    assert upload_files(api) == [] and documents(api) == []


def test_one_bad_file_of_two_is_422_and_only_the_good_one_is_kept(api: TestClient) -> None:
    files = [("file", ("good.txt", README_A)), ("file", ("bad.xml", b"<ordinance>"))]
    r = api.post("/v1/kb/ingest", files=files)
    assert r.status_code == 422
    assert [(o["source"], o["status"]) for o in r.json()["outcomes"]] == [("good.txt", "added"),
                                                                        ("bad.xml", "error")]
    assert [p.name for p in upload_files(api)] == ["good.txt"] and len(documents(api)) == 1


def test_a_zip_with_a_bad_member_names_the_member_and_keeps_the_archive_for_what_was_stored(
        api: TestClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pack/cap486.xml", CAP)
        zf.writestr("pack/broken.xml", b"<ordinance>")
    r = api.post("/v1/kb/ingest", files={"file": ("pack.zip", buf.getvalue())})
    assert r.status_code == 422
    sources = {o["source"]: o["status"] for o in r.json()["outcomes"]}
    assert sources == {"pack.zip!pack/broken.xml": "error", "pack.zip!pack/cap486.xml": "added"}
    assert [p.name for p in upload_files(api)] == ["pack.zip"]


def test_no_response_shows_a_server_path(api: TestClient, tmp_path: Path) -> None:
    bodies = [api.post("/v1/kb/ingest", files={"file": ("guide.txt", README_A)}).json(),
              api.post("/v1/kb/ingest", params={"filename": "cap486.xml"}, content=CAP).json(),
              api.post("/v1/kb/ingest", files={"file": ("bad.xml", b"<x")}).json(),
              api.get("/v1/kb/stats").json(),
              api.get("/v1/kb/show", params={"ref": "Cap. 486"}).json(),
              api.get("/v1/kb/search", params={"q": "finance branch"}).json()]
    key = bodies[0]["outcomes"][0]["document_key"]
    bodies.append(api.get("/v1/kb/show", params={"ref": key}).json())
    for body in bodies:
        dumped = json.dumps(body, ensure_ascii=False)
        assert str(tmp_path) not in dumped and "/kb/uploads" not in dumped, dumped[:500]
    shown = {d["source_path"] for d in bodies[3]["documents_list"]}
    assert all(not s.startswith("/") and s.endswith(("guide.txt", "cap486.xml")) for s in shown), shown


# -- identity and replace -------------------------------------------------------------------------------------

def test_two_different_readme_txt_are_two_documents_and_replace_is_explicit(api: TestClient) -> None:
    first = api.post("/v1/kb/ingest", files={"file": ("readme.txt", README_A)}).json()
    second = api.post("/v1/kb/ingest", files={"file": ("readme.txt", README_B)}).json()
    assert first["summary"]["added"] == second["summary"]["added"] == 1
    keys = {first["outcomes"][0]["document_key"], second["outcomes"][0]["document_key"]}
    assert len(keys) == 2 and all(k.startswith("doc:readme--") for k in keys)
    assert second["outcomes"][0]["code"] == "same_name_kept" and "replace" in second["outcomes"][0]["message"]
    assert len(documents(api)) == 2
    # the same file again: skipped, still two
    again = api.post("/v1/kb/ingest", files={"file": ("readme.txt", README_B)}).json()
    assert again["summary"]["skipped"] == 1 and len(documents(api)) == 2
    # a third version with replace: one document left, the replacement reported
    third = README_A + b"\nUpdated in 2026.\n"
    replaced = api.post("/v1/kb/ingest", params={"replace": "true"}, files={"file": ("readme.txt", third)})
    outcome = replaced.json()["outcomes"][0]
    assert replaced.status_code == 200 and outcome["status"] == "replaced" and len(outcome["replaced"]) == 2
    (left,) = documents(api)
    assert left["key"] == outcome["document_key"] and "Updated in 2026" in texts(api, left["key"])


def test_replace_keeps_other_collections_and_other_names(api: TestClient) -> None:
    api.post("/v1/kb/ingest", params={"collection": "lands"}, files={"file": ("readme.txt", README_B)})
    api.post("/v1/kb/ingest", files={"file": ("readme-finance.txt", README_A)})
    api.post("/v1/kb/ingest", files={"file": ("readme.txt", README_A)})
    r = api.post("/v1/kb/ingest", params={"replace": "true"}, files={"file": ("readme.txt", README_B)}).json()
    assert r["outcomes"][0]["status"] == "replaced" and len(r["outcomes"][0]["replaced"]) == 1
    assert sorted((d["collection"], d["key"].split("--")[0]) for d in documents(api)) == [
        ("default", "doc:readme"), ("default", "doc:readme-finance"), ("lands", "doc:readme")]


def test_a_readme_in_a_zip_is_a_new_document_when_asked_for(api: TestClient) -> None:
    api.post("/v1/kb/ingest", files={"file": ("readme.txt", README_A)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lands/readme.txt", README_B)
        zf.writestr("lands/policy.txt", b"Policy text about survey plans.")
    skipped = api.post("/v1/kb/ingest", files={"file": ("lands.zip", buf.getvalue())}).json()
    assert [o["source"] for o in skipped["outcomes"]] == ["lands.zip!lands/policy.txt"]  # README skipped
    asked = api.post("/v1/kb/ingest", params={"include_metadata": "true"},
                     files={"file": ("lands.zip", buf.getvalue())}).json()
    assert {o["source"]: o["status"] for o in asked["outcomes"]} == {
        "lands.zip!lands/policy.txt": "skipped", "lands.zip!lands/readme.txt": "added"}
    assert sum(d["key"].startswith("doc:readme--") for d in documents(api)) == 2  # nothing replaced


def test_a_zip_with_only_metadata_is_422_saying_so(api: TestClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pack/README.md", b"# About this pack")
        zf.writestr("pack/PROVENANCE.md", b"# Where it came from")
    r = api.post("/v1/kb/ingest", files={"file": ("pack.zip", buf.getvalue())})
    assert r.status_code == 422
    (outcome,) = r.json()["outcomes"]
    assert (outcome["source"], outcome["code"]) == ("pack.zip", "nothing_to_ingest")
    assert "include_metadata" in outcome["message"] and upload_files(api) == []


def test_a_cited_pdf_page_verifies(api: TestClient) -> None:
    from tests.kb.ingest.test_ingest_hygiene import make_mapped_pdf

    pdf = make_mapped_pdf([["Retention rules apply to all staff."], ["Records are kept seven years."]], {})
    key = api.post("/v1/kb/ingest", files={"file": ("records.pdf", pdf)}).json()["outcomes"][0]["document_key"]
    hit = api.get("/v1/kb/search", params={"q": "records kept seven years", "k": 1}).json()["data"][0]
    assert hit["citation"]["page"] == 2 and hit["document_key"] == key
    report = api.post("/v1/kb/verify", json={"text": f"Records are kept seven years ({key} § p. 2)."}).json()
    assert report["resolved"] == 1 and report["citations"][0]["formatted"] == f"{key} § p. 2"


def test_cli_ingest_replace(corpus: Path, tmp_path: Path) -> None:  # noqa: F811 - the imported fixture
    a, b = tmp_path / "a" / "readme.txt", tmp_path / "b" / "readme.txt"
    for path, body in ((a, README_A), (b, README_B)):
        path.parent.mkdir()
        path.write_bytes(body)
    assert run("ingest", str(a))[0] == 0
    code, out, _ = run("ingest", "--json", str(b))
    assert code == 0 and json.loads(out)["summary"]["added"] == 1
    code, out, _ = run("ingest", "--json", "--replace", str(a))
    report = json.loads(out)
    assert code == 0 and report["outcomes"][0]["status"] == "replaced" and len(report["outcomes"][0]["replaced"]) == 1
    listed = json.loads(run("stats", "--json")[1])["documents_list"]
    assert [d["key"].split("--")[0] for d in listed] == ["doc:readme"]


def test_replace_also_removes_a_document_stored_under_the_old_name_only_key(tmp_path: Path,
                                                                             empty_db: Path) -> None:
    from hkllm.kb.ingest.documents import parse_document
    from hkllm.kb.ingest.run import ingest_documents
    from tests.kb.test_knowledge_base import new_kb

    shutil.copy(empty_db, tmp_path / "kb.db")
    kb = new_kb(tmp_path)
    legacy = parse_document(README_A, source_path="readme.txt", key="doc:readme")  # a key from before hashes
    lookalike = parse_document(README_A, source_path="readme--x.txt", key="doc:readme--x")
    ingest_documents(kb.store, [legacy, lookalike], embedder=None)
    assert kb.store.keys_named("default", "doc:readme") == ["doc:readme"]
    result = kb.ingest_upload("readme.txt", README_B, replace=True)
    assert result.report.outcomes[0].status == "replaced" and len(result.report.outcomes[0].replaced) == 1
    assert {d.key for d in kb.store.list_documents()} == {"doc:readme--x", result.report.outcomes[0].document_key}
