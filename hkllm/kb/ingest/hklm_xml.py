"""Parse official DoJ HKLM XML (Hong Kong e-Legislation) into ``SourceDocument``s.

One document per chapter per language per version (key ``cap:486:en`` / ``cap:486:zh-Hant``, ``version_date``
from ``dc:date``); one ``Unit`` per section and per schedule section (a schedule without sections, e.g. a
table of forms, becomes one unit of its own). ``align_key`` (``486/s18``, ``486/sch1/s4``) is built from the
language-independent ``name`` attributes, so the English and Chinese versions of a provision share it.

Unit text keeps the numbering readable, one numbered element per line::

    (1) A data user shall not ...
    (a) in relation to ...

Source notes (amendment history), cross-reference notes and editorial notes are kept out of the text and put
in ``meta``; parts/divisions, subsections, the numbered-provision paths and definitions are in ``meta`` too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree

from hkllm.kb.ingest.sources import MalformedSource, sha256_hex
from hkllm.kb.types import Citation, SourceDocument, Unit

HKLM_NS = "http://www.xml.gov.hk/schemas/hklm/1.0"
_N = "{" + HKLM_NS + "}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DC = "{http://purl.org/dc/elements/1.1/}"

ROOT_TAGS = ("ordinance", "subLeg", "resolution")
CONTAINERS = ("part", "division", "subdivision", "chapter", "preliminary")
NUMBERED = ("subsection", "paragraph", "subparagraph", "item", "article")
BLOCKS = frozenset({*NUMBERED, "def", "proviso", "leadIn", "content", "continued", "text", "table", "tbody",
                    "thead", "tr", "p", "statutoryNote", "block", "quotedStructure", "layout", "row"})
SKIPPED = frozenset({"num", "heading", "sourceNote", "note", "editorialNote", "marker", "referenceNote",
                     "commencementNote", "col", "colgroup"})
_CJK = r"\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_WS = re.compile(r"\s+")


def lang_code(xml_lang: str | None) -> str:
    """``zh-Hant-HK`` -> ``zh-Hant``; ``zh-Hans-CN`` -> ``zh-Hans``; ``en`` -> ``en``."""
    value = (xml_lang or "").strip()
    low = value.lower()
    if low.startswith("zh"):
        return "zh-Hans" if "hans" in low else "zh-Hant"
    return low.split("-")[0] if low else "en"


_NEWLINE_AT_CJK = re.compile(rf"(?<=[{_CJK}])[ \t]*\n\s*(?=[{_CJK}(])|(?<=[{_CJK})])[ \t]*\n\s*(?=[{_CJK}])")


def clean_inline(text: str) -> str:
    """Collapse XML layout whitespace; drop line breaks next to Chinese text and spaces between two CJK
    characters (layout, not content)."""
    text = _NEWLINE_AT_CJK.sub("", text.replace("\u00a0", " "))
    text = _WS.sub(" ", text).strip()
    return _SPACE_BETWEEN_CJK.sub("", text)


def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return tag.rsplit("}", 1)[-1]


def _inline_text(el: Any) -> str:
    """Text of an inline element, skipping notes inside it."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        name = _local(node)
        if name in ("sourceNote", "note", "editorialNote", "referenceNote"):
            return
        if name == "br":
            parts.append(" ")
        if node.text and name:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return "".join(parts)


def _num_text(el: Any) -> str:
    num = el.find(_N + "num")
    return clean_inline(_inline_text(num)) if num is not None else ""


def _num_value(el: Any) -> str:
    num = el.find(_N + "num")
    if num is not None and num.get("value"):
        return str(num.get("value")).strip()
    name = el.get("name") or ""
    return re.sub(r"^(?:s|sch|P|D)", "", name)


def _heading(el: Any) -> str:
    h = el.find(_N + "heading")
    return clean_inline(_inline_text(h)) if h is not None else ""


def _notes(el: Any, tag: str) -> list[str]:
    return [clean_inline(_inline_text_all(n)) for n in el.iter(_N + tag)]


def _inline_text_all(el: Any) -> str:
    return "".join(el.itertext())


class _Renderer:
    """Renders a provision into lines, numbering each numbered element at the start of its first line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.provisions: list[str] = []  # "1", "1/a", "1/a/i" ...

    def render(self, el: Any, path: tuple[str, ...] = ()) -> None:
        """Render the children of ``el`` (a section, a schedule part...)."""
        self._block(el, path, prefix="")

    def render_element(self, el: Any) -> None:
        """Render ``el`` itself, numbered if it is a numbered element."""
        if _local(el) in NUMBERED:
            sub = (_num_value(el),)
            self.provisions.append(sub[0])
            left = self._block(el, sub, _num_text(el))
            if left:
                self.lines.append(left)
        else:
            self._block(el, (), "")

    def _emit(self, text: str, prefix: str) -> str:
        text = clean_inline(text)
        if text:
            self.lines.append(f"{prefix} {text}".strip() if prefix else text)
            return ""
        return prefix

    def _block(self, el: Any, path: tuple[str, ...], prefix: str) -> str:
        """Render children of ``el``; returns a number prefix not yet emitted."""
        name = _local(el)
        if name == "tr":
            cells = [clean_inline(_inline_text(td)) for td in el if _local(td) in ("td", "th")]
            row = " | ".join(c for c in cells if c)
            return self._emit(row, prefix)
        buf: list[str] = []
        if el.text:
            buf.append(el.text)
        for child in el:
            cname = _local(child)
            if cname in SKIPPED or not cname:
                pass
            elif cname in BLOCKS:
                prefix = self._emit("".join(buf), prefix)
                buf = []
                if cname in NUMBERED:
                    num = _num_text(child)
                    sub = (*path, _num_value(child))
                    self.provisions.append("/".join(sub))
                    left = self._block(child, sub, num)
                    if left:  # numbered element with no text of its own (e.g. repealed)
                        self.lines.append(left)
                else:
                    prefix = self._block(child, path, prefix)
            else:
                buf.append(_inline_text(child))
            if child.tail:
                buf.append(child.tail)
        return self._emit("".join(buf), prefix)


def _definitions(el: Any) -> list[dict[str, str]]:
    out = []
    for d in el.iter(_N + "def"):
        terms = d.findall(".//" + _N + "term")
        own = next((clean_inline(_inline_text(t)) for t in terms if t.get(XML_LANG) is None), "")
        other = next((clean_inline(_inline_text(t)) for t in terms if t.get(XML_LANG) is not None), "")
        entry = {"name": d.get("name") or "", "term": own}
        if other:
            entry["other_lang_term"] = other
        out.append(entry)
    return out


@dataclass
class _Ctx:
    cap: str
    lang: str
    path: list[dict[str, str]] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    schedules: list[dict[str, str]] = field(default_factory=list)


def _provision_unit(ctx: _Ctx, sec: Any, schedule: Any | None) -> Unit:
    number = _num_value(sec)
    renderer = _Renderer()
    renderer.render(sec)
    source_notes = [n for n in (clean_inline(_inline_text_all(s)) for s in sec.iter(_N + "sourceNote")) if n]
    text = "\n".join(renderer.lines)
    if not text and source_notes:  # repealed / omitted sections carry only a note
        text = " ".join(source_notes)
    sch = _num_value(schedule) if schedule is not None else None
    key = f"sch{sch}/s{number}" if sch else f"s{number}"
    meta: dict[str, Any] = {
        "number": number,
        "path": [dict(p) for p in ctx.path],
        "status": sec.get("status") or (schedule.get("status") if schedule is not None else None),
        "reason": sec.get("reason"),
        "start_period": sec.get("startPeriod"),
        "temporal_id": sec.get("temporalId"),
        "xml_id": sec.get("id"),
        "subsections": [_num_value(s) for s in sec.findall(_N + "subsection")],
        "provisions": renderer.provisions,
        "definitions": _definitions(sec),
    }
    if source_notes:
        meta["source_notes"] = source_notes
    editorial = [n for n in _notes(sec, "editorialNote") if n]
    if editorial:
        meta["editorial_notes"] = editorial
    if sch:
        meta["schedule"] = sch
        meta["schedule_heading"] = _heading(schedule)
    return Unit(
        key=key,
        citation=Citation(kind="legislation", cap=ctx.cap, section=number, schedule=sch, lang=ctx.lang),
        heading=_heading(sec),
        text=text,
        lang=ctx.lang,
        ordinal=len(ctx.units),
        align_key=f"{ctx.cap}/{key}",
        meta=meta,
    )


def _schedule_unit(ctx: _Ctx, sch_el: Any, rest: list[Any]) -> Unit | None:
    """A schedule's content outside its sections (forms, tables) as one unit, key ``sch6``."""
    renderer = _Renderer()
    for el in rest:
        if _local(el) in CONTAINERS:
            heading = " ".join(x for x in (_num_text(el), _heading(el)) if x)
            if heading:
                renderer.lines.append(heading)
        renderer.render_element(el)
    number = _num_value(sch_el)
    text = "\n".join(renderer.lines) or _heading(sch_el)  # e.g. Cap. 486 Sch. 4 has a heading only
    return Unit(
        key=f"sch{number}",
        citation=Citation(kind="legislation", cap=ctx.cap, schedule=number, lang=ctx.lang),
        heading=_heading(sch_el),
        text=text,
        lang=ctx.lang,
        ordinal=len(ctx.units),
        align_key=f"{ctx.cap}/sch{number}",
        meta={
            "schedule": number,
            "path": [dict(p) for p in ctx.path],
            "status": sch_el.get("status"),
            "reason": sch_el.get("reason"),
            "start_period": sch_el.get("startPeriod"),
            "temporal_id": sch_el.get("temporalId"),
            "xml_id": sch_el.get("id"),
            "empty": not renderer.lines,
            "cross_references": [n for n in _notes_direct(sch_el) if n],
        },
    )


def _notes_direct(el: Any) -> list[str]:
    return [clean_inline(_inline_text_all(n)) for n in el.findall(_N + "note")]


def _walk(ctx: _Ctx, el: Any) -> None:
    for child in el:
        name = _local(child)
        if name in CONTAINERS:
            ctx.path.append({"type": name, "number": _num_value(child), "label": _num_text(child),
                             "heading": _heading(child)})
            _walk(ctx, child)
            ctx.path.pop()
        elif name == "section":
            ctx.units.append(_provision_unit(ctx, child, None))
        elif name == "schedule":
            _walk_schedule(ctx, child)


def _walk_schedule(ctx: _Ctx, sch: Any) -> None:
    number = _num_value(sch)
    ctx.schedules.append({"number": number, "label": _num_text(sch), "heading": _heading(sch)})
    sections = list(sch.iter(_N + "section"))
    saved = ctx.path
    ctx.path = [{"type": "schedule", "number": number, "label": _num_text(sch), "heading": _heading(sch)}]
    leftovers: list[Any] = []
    for child in sch:
        name = _local(child)
        if name == "section":
            ctx.units.append(_provision_unit(ctx, child, sch))
        elif name in CONTAINERS and child.find(".//" + _N + "section") is not None:
            ctx.path.append({"type": name, "number": _num_value(child), "label": _num_text(child),
                             "heading": _heading(child)})
            for sec in child.iter(_N + "section"):
                ctx.units.append(_provision_unit(ctx, sec, sch))
            ctx.path.pop()
        elif name not in ("num", "heading", "note", "sourceNote"):
            leftovers.append(child)
    if not sections or leftovers:
        unit = _schedule_unit(ctx, sch, leftovers)
        if unit is not None:
            ctx.units.append(unit)
    ctx.path = saved


def _first_text(root: Any, path: str) -> str:
    el = root.find(path)
    return clean_inline(_inline_text_all(el)) if el is not None else ""


def parse_hklm_xml(data: bytes, *, source_path: str) -> SourceDocument:
    """Parse one HKLM XML file (bytes) into a ``SourceDocument``; raises ``MalformedSource`` on bad input."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedSource(source_path, f"malformed XML: {exc}") from exc
    if root is None:
        raise MalformedSource(source_path, "malformed XML: no root element")
    qname = etree.QName(root)
    if qname.namespace != HKLM_NS:
        raise MalformedSource(
            source_path,
            f"root element <{qname.localname}> is in namespace {qname.namespace or '(none)'!r}, "
            f"not the HKLM namespace {HKLM_NS!r}",
        )
    if qname.localname not in ROOT_TAGS:
        raise MalformedSource(source_path, f"unsupported HKLM document <{qname.localname}>")
    meta_el = root.find(_N + "meta")
    main = root.find(_N + "main")
    if meta_el is None or main is None:
        raise MalformedSource(source_path, "HKLM document without <meta> or <main>")
    cap = _first_text(meta_el, _N + "docNumber")
    if not cap:
        ident = _first_text(meta_el, _DC + "identifier")
        m = re.search(r"/cap(\w+)", ident)
        cap = m.group(1) if m else ""
    if not cap:
        raise MalformedSource(source_path, "no chapter number (<docNumber>) in <meta>")
    xml_lang = root.get(XML_LANG) or _first_text(meta_el, _DC + "language") or "en"
    lang = lang_code(xml_lang)
    raw_date = _first_text(meta_el, _DC + "date")
    try:
        version = date.fromisoformat(raw_date[:10]) if raw_date else None
    except ValueError as exc:
        raise MalformedSource(source_path, f"bad version date {raw_date!r} in <dc:date>") from exc
    ctx = _Ctx(cap=cap, lang=lang)
    _walk(ctx, main)
    if not ctx.units:
        raise MalformedSource(source_path, "no sections or schedules found in <main>")
    short = main.find(".//" + _N + "shortTitle")
    title = clean_inline(_inline_text(short)) if short is not None else ""
    title = title.strip("《》") or _first_text(meta_el, _N + "docName") or f"Cap. {cap}"
    long_title = main.find(_N + "longTitle")
    return SourceDocument(
        kind="legislation",
        key=f"cap:{cap}:{lang}",
        title=title,
        lang=lang,
        version_date=version,
        source_path=source_path,
        content_sha256=sha256_hex(data),
        units=ctx.units,
        meta={
            "cap": cap,
            "doc_name": _first_text(meta_el, _N + "docName"),
            "doc_type": _first_text(meta_el, _N + "docType"),
            "doc_status": _first_text(meta_el, _N + "docStatus"),
            "identifier": _first_text(meta_el, _DC + "identifier"),
            "xml_lang": xml_lang,
            "root": qname.localname,
            "titles": {lang: title},
            "long_title": clean_inline(_inline_text(long_title)) if long_title is not None else "",
            "parts": _parts(main),
            "schedules": ctx.schedules,
            "sections": sum(1 for u in ctx.units if u.citation.schedule is None),
        },
    )


def _parts(main: Any) -> list[dict[str, Any]]:
    out = []
    for el in main.iter(*(_N + c for c in CONTAINERS)):
        parent = el.getparent()
        if parent is not None and _local(parent) == "schedule":
            continue
        out.append({"type": _local(el), "number": _num_value(el), "label": _num_text(el), "heading": _heading(el),
                    "sections": [_num_value(s) for s in el.iter(_N + "section")]})
    return out


# ---------------------------------------------------------------- bilingual alignment


@dataclass
class AlignmentReport:
    """en <-> zh pairing of one chapter version: keys present in both, and those in only one language."""

    cap: str
    version_date: date | None
    aligned: list[str]
    only: dict[str, list[str]]

    @property
    def coverage(self) -> float:
        total = len(self.aligned) + sum(len(v) for v in self.only.values())
        return len(self.aligned) / total if total else 0.0


def align_bilingual(documents: Iterable[SourceDocument]) -> list[AlignmentReport]:
    """Pair the language versions of each chapter version by ``align_key``; fill ``meta['titles']`` of every
    version with the titles in all languages found, and each unit's ``meta['aligned']`` (bool)."""
    groups: dict[tuple[str, date | None], list[SourceDocument]] = {}
    for doc in documents:
        if doc.kind == "legislation":
            groups.setdefault((doc.meta.get("cap", ""), doc.version_date), []).append(doc)
    reports = []
    for (cap, version), docs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or date.min)):
        titles = {d.lang: d.title for d in docs}
        keysets = {d.lang: [u.align_key for u in d.units if u.align_key] for d in docs}
        common = set.intersection(*(set(v) for v in keysets.values())) if len(keysets) > 1 else set()
        for d in docs:
            d.meta["titles"] = dict(titles)
            for u in d.units:
                u.meta["aligned"] = u.align_key in common
        first = next(iter(keysets.values()))
        reports.append(AlignmentReport(
            cap=cap,
            version_date=version,
            aligned=[k for k in first if k in common],
            only={lang: [k for k in keys if k not in common] for lang, keys in keysets.items()},
        ))
    return reports


def iter_units(doc: SourceDocument, *, schedule: str | None = None) -> Iterator[Unit]:
    for u in doc.units:
        if schedule is None or u.citation.schedule == schedule:
            yield u
