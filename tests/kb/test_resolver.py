"""``StoreResolver``: citations resolved against a small store of legislation (two languages, two versions,
a schedule), judgments (paragraphs, a corrigendum, one known only by case number) and a document."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from hkllm.kb.citations import CitationResolver, normalize_title, verify_citations
from hkllm.kb.resolver import StoreResolver
from hkllm.kb.store.open import open_store
from hkllm.kb.store.sqlite import SQLiteKBStore
from hkllm.kb.types import Citation, SourceDocument, Unit

OLD, NEW = date(2020, 1, 1), date(2022, 10, 1)
NEUTRAL = "[2025] HKCFI 4195"


def _sha(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def chapter(lang: str, when: date, words: str) -> SourceDocument:
    """Cap. 486 ss. 18 and 35C and Schedule 1 ss. 1 and 2, each text naming its version and language."""
    title = "Personal Data (Privacy) Ordinance" if lang == "en" else "個人資料(私隱)條例"
    units = []
    for i, (schedule, n) in enumerate(((None, "18"), (None, "35C"), ("1", "1"), ("1", "2"))):
        key = f"sch{schedule}/s{n}" if schedule else f"s{n}"
        meta: dict[str, object] = ({"schedule_heading": f"Data Protection Principles {lang}"} if schedule
                                   else {"provisions": ["1", "2"]})
        cite = Citation(kind="legislation", cap="486", section=n, schedule=schedule, lang=lang)
        units.append(Unit(key=key, lang=lang, ordinal=i, align_key=f"486/{key}", meta=meta, citation=cite,
                          heading=f"Principle {n}" if schedule else f"Section {n}",
                          text=f"{words} principle {n} {lang}" if schedule else f"{words} s{n} {lang}"))
    return SourceDocument(kind="legislation", key=f"cap:486:{lang}", title=title, lang=lang,
                          version_date=when, source_path="x", content_sha256=_sha(lang, when, words),
                          units=units, meta={"cap": "486"})


def judgment(key: str, *, neutral: str | None, paras: dict[int, str], when: date,
             document_type: str = "judgment") -> SourceDocument:
    units = [Unit(key=f"para{n}", heading=f"[{n}]", text=body, lang="en", ordinal=i,
                  citation=Citation(kind="judgment", neutral_citation=neutral, paragraph=n,
                                    doc_id=None if neutral else key, lang="en"))
             for i, (n, body) in enumerate(paras.items())]
    return SourceDocument(kind="judgment", key=key, title=f"Judgment {key}", lang="en", version_date=when,
                          source_path="x", content_sha256=_sha(key, paras), units=units,
                          meta={"neutral_citation": neutral, "document_type": document_type})


def guide() -> SourceDocument:
    rows = [("Consent", "Ask before you use the data."), ("Consent", "Consent may be withdrawn."),
            ("Fees", "A reasonable fee may be charged.")]
    units = [Unit(key=f"chunk{i + 1}", heading=s, text=t, lang="en", ordinal=i,
                  citation=Citation(kind="document", doc_id="doc:guide", section=s, lang="en"))
             for i, (s, t) in enumerate(rows)]
    return SourceDocument(kind="document", key="doc:guide", title="Guide to data", lang="en",
                          version_date=None, source_path="guide.md", content_sha256=_sha(rows), units=units)


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> StoreResolver:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('resolver') / 'kb.db'}")
    assert isinstance(store, SQLiteKBStore)
    paragraphs = {1: "The facts.", 2: "The plaintiff made a data access request.", 3: "Dismissed."}
    for doc in (chapter("en", OLD, "old"), chapter("zh-Hant", OLD, "old"), chapter("en", NEW, "new"),
                chapter("zh-Hant", NEW, "new"),
                judgment(f"judgment:{NEUTRAL}", neutral=NEUTRAL, when=date(2025, 3, 1), paras=paragraphs),
                # a later corrigendum of the same judgment: never chosen over the judgment itself
                judgment(f"judgment:{NEUTRAL}:corrigendum", neutral=NEUTRAL, when=date(2025, 4, 1),
                         paras={2: "Corrected text of paragraph 2."}, document_type="corrigendum"),
                # a judgment known only by its corrigendum: that is what there is
                judgment("judgment:[2024] HKDC 7:corrigendum", neutral="[2024] HKDC 7", when=date(2024, 5, 1),
                         paras={1: "Only the corrigendum."}, document_type="corrigendum"),
                judgment("judgment:HCA 1/2020", neutral=None, when=date(2020, 6, 1),
                         paras={1: "Unreported."}),
                guide()):
        assert store.put_document(doc).status == "added"
    return StoreResolver(store)


def legislation(section: str | None = None, *, schedule: str | None = None, lang: str | None = None,
                cap: str = "486") -> Citation:
    return Citation(kind="legislation", cap=cap, section=section, schedule=schedule, lang=lang)


def test_is_a_citation_resolver(resolver: StoreResolver) -> None:
    assert isinstance(resolver, CitationResolver)


def test_title_index_maps_both_languages_titles_to_the_chapter(resolver: StoreResolver) -> None:
    index = resolver.title_index()
    assert index[normalize_title("Personal Data (Privacy) Ordinance")] == "486"
    assert index[normalize_title("個人資料(私隱)條例")] == "486"
    assert set(index.values()) == {"486"}  # judgments and documents have no chapter


# -- legislation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "expected_lang"), [
    ("en", "en"), ("zh-Hant", "zh-Hant"), ("zh-HK", "zh-Hant"), ("yue", "zh-Hant"),
    ("zh-Hans", "en"),  # not stored in Simplified: the English text
])
def test_section_in_the_asked_language(resolver: StoreResolver, lang: str, expected_lang: str) -> None:
    found = resolver.resolve(legislation("18", lang=lang))
    assert found is not None
    assert (found.unit_key, found.lang, found.text) == ("s18", expected_lang, f"new s18 {expected_lang}")
    assert found.version_date == NEW and found.heading == "Section 18"
    assert found.meta == {"provisions": ["1", "2"]}  # the unit's own meta (subsection check)


def test_section_without_language_is_one_of_the_stored_versions(resolver: StoreResolver) -> None:
    found = resolver.resolve(legislation("35C"))
    assert found is not None and found.text == f"new s35C {found.lang}"
    lower = resolver.resolve(legislation("35c", lang="en"))
    assert lower is not None and lower.unit_key == "s35C"


@pytest.mark.parametrize(("version_date", "words"), [
    (None, "new"), (date(2021, 12, 31), "old"), (OLD, "old"), (NEW, "new"), (date(2030, 1, 1), "new"),
])
def test_version_in_force_on_the_date(resolver: StoreResolver, version_date: date | None, words: str) -> None:
    found = resolver.resolve(legislation("18", lang="zh-Hant"), version_date=version_date)
    assert found is not None and found.text == f"{words} s18 zh-Hant"
    whole = resolver.resolve(legislation(lang="en"), version_date=version_date)
    assert whole is not None and whole.version_date == (OLD if words == "old" else NEW)


def test_nothing_before_the_first_version(resolver: StoreResolver) -> None:
    assert resolver.resolve(legislation("18"), version_date=date(2019, 12, 31)) is None
    assert resolver.resolve(legislation(), version_date=date(2019, 12, 31)) is None


def test_whole_chapter(resolver: StoreResolver) -> None:
    found = resolver.resolve(legislation(lang="zh-Hant"))
    assert found is not None
    assert found.unit_key is None and found.text == "" and found.doc_key == "cap:486:zh-Hant"
    assert found.heading == found.doc_title == "個人資料(私隱)條例"
    # the chapter's titles in every stored language, for checking a title written beside a chapter number
    assert found.meta["titles"] == {"en": "Personal Data (Privacy) Ordinance", "zh-Hant": "個人資料(私隱)條例"}
    assert found.meta["cap"] == "486"


def test_whole_schedule_joins_its_provisions(resolver: StoreResolver) -> None:
    found = resolver.resolve(legislation(schedule="1", lang="en"))
    assert found is not None
    assert found.unit_key == "sch1" and found.heading == "Data Protection Principles en"
    assert found.text == "new principle 1 en\nnew principle 2 en"
    assert found.meta == {"schedule": "1"}


def test_section_of_a_schedule(resolver: StoreResolver) -> None:
    found = resolver.resolve(legislation("2", schedule="1", lang="zh-Hant"))
    assert found is not None and found.unit_key == "sch1/s2" and found.text == "new principle 2 zh-Hant"
    # s. 1 of the chapter body does not exist, only Sch. 1 s. 1
    assert resolver.resolve(legislation("1")) is None


@pytest.mark.parametrize("citation", [
    legislation("99"),  # no such section
    legislation(schedule="9"),  # no such schedule
    legislation("5", schedule="1"),  # no such section in the schedule
    legislation("18", cap="999"),  # chapter not stored
    legislation(cap="999"),
    Citation(kind="legislation"),  # no chapter at all
])
def test_unknown_provisions_are_none(resolver: StoreResolver, citation: Citation) -> None:
    assert resolver.resolve(citation) is None


# -- judgments -----------------------------------------------------------------------------------------------

def test_judgment_paragraph_comes_from_the_judgment_not_its_corrigendum(resolver: StoreResolver) -> None:
    found = resolver.resolve(Citation(kind="judgment", neutral_citation=NEUTRAL, paragraph=2))
    assert found is not None
    assert found.doc_key == f"judgment:{NEUTRAL}" and found.unit_key == "para2"
    assert found.text == "The plaintiff made a data access request."
    whole = resolver.resolve(Citation(kind="judgment", neutral_citation=NEUTRAL))
    assert whole is not None and whole.unit_key is None and whole.doc_key == f"judgment:{NEUTRAL}"
    assert whole.meta["document_type"] == "judgment"


def test_neutral_citation_matches_whatever_the_case_and_spacing(resolver: StoreResolver) -> None:
    found = resolver.resolve(Citation(kind="judgment", neutral_citation="[2025]  hkcfi 4195", paragraph=3))
    assert found is not None and found.text == "Dismissed."


def test_a_judgment_stored_only_as_a_corrigendum_resolves_to_it(resolver: StoreResolver) -> None:
    found = resolver.resolve(Citation(kind="judgment", neutral_citation="[2024] HKDC 7", paragraph=1))
    assert found is not None and found.text == "Only the corrigendum."


def test_judgment_known_by_case_number(resolver: StoreResolver) -> None:
    found = resolver.resolve(Citation(kind="judgment", doc_id="judgment:HCA 1/2020", paragraph=1))
    assert found is not None and found.text == "Unreported."


@pytest.mark.parametrize("citation", [
    Citation(kind="judgment", neutral_citation=NEUTRAL, paragraph=99),
    Citation(kind="judgment", neutral_citation="[2025] HKCFI 9999"),
    Citation(kind="judgment", neutral_citation="[2025] HKCFI 9999", paragraph=1),
    Citation(kind="judgment"),
])
def test_unknown_judgments_and_paragraphs_are_none(resolver: StoreResolver, citation: Citation) -> None:
    assert resolver.resolve(citation) is None


# -- documents -----------------------------------------------------------------------------------------------

def test_document_section_joins_its_chunks(resolver: StoreResolver) -> None:
    found = resolver.resolve(Citation(kind="document", doc_id="doc:guide", section="Consent"))
    assert found is not None
    assert found.unit_key == "chunk1" and found.heading == "Consent"
    assert found.text == "Ask before you use the data.\nConsent may be withdrawn."
    whole = resolver.resolve(Citation(kind="document", doc_id="doc:guide"))
    assert whole is not None and whole.unit_key is None and whole.doc_title == "Guide to data"
    assert whole.version_date is None


def test_unknown_documents_and_sections_are_none(resolver: StoreResolver) -> None:
    assert resolver.resolve(Citation(kind="document", doc_id="doc:guide", section="Penalties")) is None
    assert resolver.resolve(Citation(kind="document", doc_id="doc:other")) is None
    assert resolver.resolve(Citation(kind="document")) is None


# -- through the verifier ------------------------------------------------------------------------------------

def test_verifier_over_the_store(resolver: StoreResolver) -> None:
    text = ("Under Cap. 486 s. 18(1) and 第486章附表1第2條, see [2025] HKCFI 4195 at [2]; but Cap. 486 s. 99, "
            "[2025] HKCFI 4195 at [99] and Cap. 123 s. 1 are not stored.")
    report = verify_citations(text, resolver, today=date(2026, 1, 1))
    statuses = {c.found.text: c.status for c in report.checks}
    assert statuses == {
        "Cap. 486 s. 18(1)": "resolved",
        "第486章附表1第2條": "resolved",
        "[2025] HKCFI 4195 at [2]": "resolved",
        "Cap. 486 s. 99": "not_found",
        "[2025] HKCFI 4195 at [99]": "not_found",
        "Cap. 123 s. 1": "outside_kb",
    }


def test_verifier_checks_subsections_and_titles_against_the_store(resolver: StoreResolver) -> None:
    report = verify_citations("Cap. 486 s. 18(3) and 《個人資料(私隱)條例》第18條 and 《版權條例》(第486章)第18條",
                              resolver, today=date(2026, 1, 1))
    assert [c.status for c in report.checks] == ["not_found", "resolved", "title_mismatch"]
