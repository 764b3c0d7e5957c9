"""Citations: formatters (English / Traditional Chinese), parser, finder and verifier.

* ``format_citation(c, "en")`` -> ``Cap. 486 s. 18(1)(a)``, ``Cap. 486 Sch. 1 s. 4``, ``[2025] HKCFI 4195 at [12]``;
  ``format_citation(c, "zh-Hant", title="個人資料(私隱)條例")`` -> ``《個人資料(私隱)條例》(第486章)第18(1)(a)條``
  (``第486章第18(1)(a)條`` when no title is known; ``cite()`` looks the title up through a resolver).
* ``parse_citation(s)`` reads all those forms and common variants back; ``find_citations(text)`` finds them in
  running text (see ``hkllm.kb.citation_parse``).
* ``verify_citations(text, resolver)`` checks every citation in an answer against the knowledge base: the
  provision / judgment paragraph must exist, a title written with a chapter number must be that chapter's, and
  quoted text attributed to a citation must appear in the source. Apps run it before a user sees an answer.

A ``CitationResolver`` looks citations up; ``InMemoryResolver`` implements it over a list of
``SourceDocument``s (the store implements the same protocol over the database).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal, Protocol, runtime_checkable

from hkllm.kb.citation_parse import (
    COURT_CODES,
    CitationParseError,
    FoundCitation,
    find_citations,
    known_titles,
    normalize_title,
    normalize_width,
    parse_citation,
    quote_near,
)
from hkllm.kb.types import Citation, SourceDocument

__all__ = [
    "COURT_CODES",
    "CitationCheck",
    "CitationParseError",
    "CitationResolver",
    "FoundCitation",
    "InMemoryResolver",
    "ResolvedSource",
    "VerificationReport",
    "cite",
    "find_citations",
    "format_citation",
    "normalize_title",
    "parse_citation",
    "quote_matches",
    "quote_near",
    "source_citation",
    "verify_citation",
    "verify_citations",
]


# ---------------------------------------------------------------- formatting


def _sub(c: Citation) -> str:
    return "".join(f"({p})" for p in c.subsection)


def _is_zh(lang: str | None) -> bool:
    return bool(lang) and str(lang).lower().startswith("zh")


def format_citation(c: Citation, lang: str = "en", *, title: str | None = None) -> str:
    """Format ``c`` in ``lang`` ("en" or "zh-Hant"). ``title``: the chapter's short title in that language
    (English output shows it only when given: ``Personal Data (Privacy) Ordinance (Cap. 486) s. 18``)."""
    zh = _is_zh(lang)
    if c.kind == "legislation":
        if not c.cap:
            raise ValueError("a legislation citation needs a chapter number")
        if zh:
            out = f"《{title.strip('《》')}》(第{c.cap}章)" if title else f"第{c.cap}章"
            if c.schedule:
                out += f"附表{c.schedule}"
            if c.section:
                out += f"第{c.section}{_sub(c)}條"
            return out
        parts = [f"{title} (Cap. {c.cap})" if title else f"Cap. {c.cap}"]
        if c.schedule:
            parts.append(f"Sch. {c.schedule}")
        if c.section:
            parts.append(f"s. {c.section}{_sub(c)}")
        return " ".join(parts)
    if c.kind == "judgment":
        base = c.neutral_citation or c.doc_id or ""
        if c.paragraph is None:
            return base
        return f"{base}，第{c.paragraph}段" if zh else f"{base} at [{c.paragraph}]"
    if c.kind == "document":
        where = ", ".join(x for x in (c.section, f"p. {c.page}" if c.page is not None else None) if x)
        return f"{c.doc_id} § {where}" if where else str(c.doc_id)
    raise ValueError(f"unknown citation kind {c.kind!r}")


def source_citation(c: Citation) -> Citation:
    """The citation of the whole source ``c`` points into (chapter, judgment, document)."""
    if c.kind == "legislation":
        return Citation(kind="legislation", cap=c.cap, lang=c.lang)
    if c.kind == "judgment":
        return Citation(kind="judgment", neutral_citation=c.neutral_citation, doc_id=c.doc_id, lang=c.lang)
    return Citation(kind="document", doc_id=c.doc_id, lang=c.lang)


def cite(c: Citation, lang: str, resolver: CitationResolver | None = None) -> str:
    """Format with the chapter title looked up through ``resolver`` for Chinese output."""
    title = None
    if resolver is not None and c.kind == "legislation" and _is_zh(lang):
        chapter = resolver.resolve(Citation(kind="legislation", cap=c.cap, lang="zh-Hant"))
        if chapter is not None and _is_zh(chapter.lang):
            title = chapter.doc_title
    return format_citation(c, lang, title=title)


# ---------------------------------------------------------------- resolving


@dataclass(frozen=True)
class ResolvedSource:
    """What a citation points to. ``unit_key`` is None when the citation names a whole source (a chapter,
    a judgment, a document); then ``text`` may be empty. ``meta`` is the unit's (or document's) meta."""

    citation: Citation
    doc_key: str
    doc_title: str
    unit_key: str | None
    heading: str
    text: str
    lang: str
    version_date: date | None
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class CitationResolver(Protocol):
    def resolve(self, citation: Citation, *, version_date: date | None = None) -> ResolvedSource | None:
        """The stored source ``citation`` points to, in ``citation.lang`` when stored (else another language),
        in the version in force at ``version_date`` (default: the newest); None when not stored."""
        ...


class InMemoryResolver:
    """``CitationResolver`` over ``SourceDocument``s kept in memory (tests, small deployments)."""

    def __init__(self, documents: Iterable[SourceDocument]) -> None:
        self._docs: dict[tuple[str, str], list[SourceDocument]] = {}
        self._titles: dict[str, dict[str, str]] = {}
        for doc in documents:
            ident = self._ident(doc)
            if ident is None:
                continue
            self._docs.setdefault(ident, []).append(doc)
            if doc.kind == "legislation":
                self._titles.setdefault(doc.meta.get("cap", ""), {})[doc.lang] = doc.title
        for docs in self._docs.values():
            docs.sort(key=lambda d: (d.version_date or date.min, d.meta.get("document_type") != "corrigendum"))

    @staticmethod
    def _ident(doc: SourceDocument) -> tuple[str, str] | None:
        if doc.kind == "legislation" and doc.meta.get("cap"):
            return ("cap", str(doc.meta["cap"]).upper())
        if doc.kind == "judgment":
            return ("judgment", doc.meta.get("neutral_citation") or doc.key)
        return ("doc", doc.key)

    def title_index(self) -> dict[str, str]:
        """Normalised chapter titles (both languages) -> chapter number, for ``find_citations(titles=...)``."""
        return {normalize_title(t): cap for cap, by_lang in self._titles.items() for t in by_lang.values()}

    def _pick(self, ident: tuple[str, str], lang: str | None, version_date: date | None) -> SourceDocument | None:
        docs = self._docs.get(ident, [])
        if version_date is not None:
            docs = [d for d in docs if d.version_date is None or d.version_date <= version_date]
        if not docs:
            return None
        if ident[0] == "judgment":  # a judgment over its corrigendum
            main = [d for d in docs if d.meta.get("document_type") != "corrigendum"]
            docs = main or docs
        wanted = "zh-Hant" if _is_zh(lang) else lang
        same = [d for d in docs if wanted is None or d.lang == wanted]
        pool = same or [d for d in docs if d.lang == "en"] or docs
        return max(pool, key=lambda d: d.version_date or date.min)

    def resolve(self, citation: Citation, *, version_date: date | None = None) -> ResolvedSource | None:
        c = citation
        if c.kind == "legislation":
            ident = ("cap", (c.cap or "").upper())
        elif c.kind == "judgment":
            ident = ("judgment", c.neutral_citation or c.doc_id or "")
        else:
            ident = ("doc", c.doc_id or "")
        doc = self._pick(ident, c.lang, version_date)
        if doc is None:
            return None
        meta = dict(doc.meta)
        if c.kind == "legislation":
            meta["titles"] = dict(self._titles.get(doc.meta.get("cap", ""), {}))
        whole = ResolvedSource(c, doc.key, doc.title, None, doc.title, "", doc.lang, doc.version_date, meta)
        if c.kind == "legislation":
            if not c.section and not c.schedule:
                return whole
            if not c.section:  # a whole schedule
                units = [u for u in doc.units if u.citation.schedule == c.schedule]
                if not units:
                    return None
                sched: dict[str, Any] = next(
                    (s for s in doc.meta.get("schedules", []) if s.get("number") == c.schedule), {})
                text = "\n".join(u.text for u in units)
                return ResolvedSource(c, doc.key, doc.title, f"sch{c.schedule}", sched.get("heading", ""), text,
                                      doc.lang, doc.version_date, {"schedule": c.schedule})
            key = f"sch{c.schedule}/s{c.section}" if c.schedule else f"s{c.section}"
        elif c.kind == "judgment":
            if c.paragraph is None:
                return whole
            key = f"para{c.paragraph}"
        else:
            if not c.section:
                return whole
            units = [u for u in doc.units if u.citation.section == c.section]
            if not units:
                return None
            return ResolvedSource(c, doc.key, doc.title, units[0].key, units[0].heading,
                                  "\n".join(u.text for u in units), doc.lang, doc.version_date, units[0].meta)
        unit = next((u for u in doc.units if u.key == key), None)
        if unit is None:
            return None
        return ResolvedSource(c, doc.key, doc.title, unit.key, unit.heading, unit.text, unit.lang, doc.version_date,
                              unit.meta)


# ---------------------------------------------------------------- verifying

Status = Literal["resolved", "not_found", "outside_kb", "invalid", "title_mismatch", "quote_mismatch"]


@dataclass(frozen=True)
class CitationCheck:
    found: FoundCitation
    status: Status
    detail: str
    source: ResolvedSource | None = None

    @property
    def ok(self) -> bool:
        return self.status == "resolved"

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.found.text, "start": self.found.start, "end": self.found.end,
                "citation": self.found.citation.to_dict(), "status": self.status, "detail": self.detail,
                "source": {"doc_key": self.source.doc_key, "unit_key": self.source.unit_key} if self.source else None}


@dataclass
class VerificationReport:
    checks: list[CitationCheck]

    @property
    def resolved(self) -> list[CitationCheck]:
        return [c for c in self.checks if c.ok]

    @property
    def unresolved(self) -> list[CitationCheck]:
        """Everything a user must not be shown as verified: fabricated, outside the KB, mismatched."""
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.unresolved

    def by_status(self, status: Status) -> list[CitationCheck]:
        return [c for c in self.checks if c.status == status]


def _norm_for_quote(text: str) -> str:
    t = unicodedata.normalize("NFKC", normalize_width(text)).casefold()
    fold: dict[str, str | int | None] = {"“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"',
                                         "』": '"', "—": "-", "–": "-", "─": "-"}
    t = t.translate(str.maketrans(fold))
    return re.sub(r"\s+", "", t)


def quote_matches(quote: str, source_text: str) -> bool:
    """Does ``quote`` occur in ``source_text``, ignoring spacing, width, case and quote style?
    An ellipsis (``...``/``…``) splits the quote into fragments that must appear in order."""
    hay = _norm_for_quote(source_text)
    pos = 0
    fragments = [f for f in re.split(r"\.{3,}|…+|\[\s*\.\.\.\s*\]", quote) if f.strip(" .,;，；")]
    if not fragments:
        return True
    for frag in fragments:
        needle = _norm_for_quote(frag).strip(".,;:，；：。\"'")
        if not needle:
            continue
        at = hay.find(needle, pos)
        if at < 0:
            return False
        pos = at + len(needle)
    return True


def _describe(c: Citation) -> str:
    return format_citation(c, "zh-Hant" if _is_zh(c.lang) else "en")


def verify_citation(found: FoundCitation | Citation, resolver: CitationResolver, *, today: date | None = None,
                    version_date: date | None = None) -> CitationCheck:
    """Check one citation: plausible, stored, the provision/paragraph exists, title and quote match."""
    if isinstance(found, Citation):
        found = FoundCitation(found, 0, 0, format_citation(found, found.lang or "en"))
    c = found.citation
    today = today or date.today()
    if c.kind == "judgment" and c.neutral_citation:
        m = re.match(r"\[(\d{4})\] (\S+) (\d+)$", c.neutral_citation)
        if not m or not 1840 <= int(m.group(1)) <= today.year or int(m.group(3)) < 1 or m.group(2) not in COURT_CODES:
            return CitationCheck(found, "invalid", f"{c.neutral_citation} cannot exist (year or court)")
        if c.paragraph is not None and c.paragraph < 1:
            return CitationCheck(found, "invalid", "paragraph numbers start at 1")
    parent = resolver.resolve(source_citation(c), version_date=version_date)
    if parent is None:
        return CitationCheck(found, "outside_kb", f"{_describe(source_citation(c))} is not in the knowledge base")
    if found.title and c.kind == "legislation":
        titles = {normalize_title(t) for t in (parent.meta.get("titles") or {parent.lang: parent.doc_title}).values()}
        known = known_titles()  # short titles and abbreviations (PDPO, 《私隱條例》) of the same chapter pass too
        written = normalize_title(found.title)
        if written not in titles and c.cap not in (known.titles.get(written), known.abbreviations.get(found.title)):
            return CitationCheck(found, "title_mismatch",
                                 f"title {found.title!r} is not the title of Cap. {c.cap}", parent)
    target = resolver.resolve(replace(c, subsection=()), version_date=version_date)
    if target is None:
        return CitationCheck(found, "not_found", f"{_describe(c)} does not exist in {parent.doc_title}", parent)
    provisions = target.meta.get("provisions")
    if c.subsection and provisions is not None and "/".join(c.subsection) not in provisions:
        return CitationCheck(found, "not_found", f"{_describe(c)}: no such subsection or paragraph", target)
    if found.quote:
        quote_lang = "zh-Hant" if re.search(r"[\u3400-\u9fff]", found.quote) else "en"
        in_lang = resolver.resolve(replace(c, subsection=(), lang=quote_lang), version_date=version_date) or target
        if not quote_matches(found.quote, in_lang.text):
            return CitationCheck(found, "quote_mismatch", f"quoted text not found in {_describe(c)}", in_lang)
    return CitationCheck(found, "resolved", "ok", target)


def verify_citations(text: str, resolver: CitationResolver, *, today: date | None = None,
                     titles: Mapping[str, str] | None = None, version_date: date | None = None) -> VerificationReport:
    """Find every citation in ``text`` and check it; ``report.unresolved`` lists the ones that fail.
    ``titles`` defaults to the resolver's ``title_index()`` when it has one."""
    if titles is None and hasattr(resolver, "title_index"):
        titles = resolver.title_index()
    checks = [verify_citation(f, resolver, today=today, version_date=version_date)
              for f in find_citations(text, titles=titles)]
    return VerificationReport(checks)
