"""Parse Hong Kong court judgments (Judiciary LRS HTML, plain text, JSONL records) into ``SourceDocument``s.

One document per judgment (key ``judgment:[2025] HKCFI 4195``; a corrigendum gets ``...:corrigendum``).
Units are the numbered paragraphs (``para12``, citation ``[2025] HKCFI 4195 at [12]``); text between them
(quotes, lists) stays with its paragraph. Transcripts without numbered paragraphs get one unit per block
(``block3``, no paragraph number, so ``at [3]`` does not resolve to them). Footnotes are units ``fn1``...

``meta``: neutral citation, court, dates, parties, coram, case numbers, charges, the judgment it is on appeal
from, and ``cited_authorities`` -- every case the judgment cites (neutral and/or report citation, unreported
action number, case name, pinpoint paragraphs, the units that cite it). Citations are found with
``hkeyecite`` plus a lenient pass for neutral citations missing their opening bracket; case names are taken
again here because ``hkeyecite`` attaches an earlier case's name to a bare neutral citation (it picks the last
``X v Y`` before ANY bracket within 200 characters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bs4 import BeautifulSoup, Tag
from hkeyecite import HKActionNumber, HKNeutralCitation, HKReportedCitation, get_citations
from hkeyecite.courts import get_court_by_case_prefix, get_court_by_code

from hkllm.kb.ingest.sources import EmptySource, IngestError, MalformedSource, decode_text, sha256_hex
from hkllm.kb.types import Citation, SourceDocument, Unit

COURT_CODES = ("HKCFA", "HKCA", "HKCFI", "HKDC", "HKFC", "HKFamC", "HKLT", "HKLdT", "HKLBT", "HKLaT", "HKSCT",
               "HKCT", "HKOAT", "HKCC", "HKCrC", "HKMC", "HKMagC")
_COURTS_RE = "|".join(sorted(COURT_CODES, key=len, reverse=True))
NEUTRAL_RE = re.compile(rf"\[\s*(?P<year>(?:19|20)\d\d)\s*\]\s*(?P<court>{_COURTS_RE})\s+(?P<number>\d{{1,6}})(?![0-9A-Za-z])")
# "2024] HKCA 150" -- a neutral citation typed without its opening bracket (seen in the Judiciary sample).
_NEUTRAL_LENIENT = re.compile(rf"(?<![0-9A-Za-z\[])(?P<year>(?:19|20)\d\d)\]\s*(?P<court>{_COURTS_RE})\s+(?P<number>\d{{1,6}})(?![0-9A-Za-z])")
_SEP = re.compile(r"^[\s_\-=─—–~*]{4,}$")
_PARA_NUM = re.compile(r"^(\d{1,3})\.(?:\s+|(?=[^\d\s]))")
_FOOTNOTE = re.compile(r"^\[(\d{1,3})\]\s*(.*)$", re.S)
_SIGNATURE = re.compile(r"^[(（]\s*[^()（）]{2,40}\s*[)）]$")
_CLOSING = re.compile(r"^(?:I/we certify|I certify that|We certify that|本人.{0,20}證明|.{0,10}謹此核證)", re.I)
_LABEL = re.compile(
    r"^(?P<label>Before|Coram|Date(?:\s+of\s+[A-Za-z ]{2,40})?|Present|Offences?|Charges?|Hearing dates?|"
    r"主審法官|審理法官|法官|[^\s:：]{0,6}日期|出席人士|控罪|罪名)\s*[:：]\s*(?P<value>.*)$",
    re.I,
)
_DOC_TITLES = re.compile(r"judgment|reasons|sentence|decision|ruling|transcript|corrigendum|判刑|判詞|判案書|裁決|"
                         r"理由|勘誤|謄本|J U D G M E N T", re.I)
_ROLE = re.compile(
    r"^[(（]?\s*(?:(?:\d+(?:st|nd|rd|th)\s+|first\s+|second\s+)?(?:respondent|applicant|appellant|plaintiff|"
    r"defendant|petitioner|intended\s+\w+|putative\s+\w+|interested\s+party|accused)s?|A\d+|D\d+|"
    r"第.{1,3}(?:被告人|原告人|申請人|答辯人|上訴人)|被告人|原告人|申請人|答辯人|上訴人|原告|被告)\s*[)）]?$",
    re.I,
)
_PARTY_JOIN = re.compile(r"^(?:v\.?|vs\.?|and|between|訴|對|及|與)$", re.I)
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), 1)}
_DATE_EN = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS) + r")\s*,?\s+(\d{4})", re.I)
_DATE_ZH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")


@dataclass
class _Block:
    text: str
    kind: str = "text"  # text | para | heading | footnote | sep
    number: int | None = None
    centered: bool = False


@dataclass
class _Parsed:
    title: str
    top: list[str]  # lines before the parties (case numbers, neutral citation, court)
    parties: list[str]
    fields: dict[str, list[str]]
    doc_title: list[str]
    body: list[_Block]
    footnotes: list[_Block] = field(default_factory=list)


def clean(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u3000", " ").replace("\r", "")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def parse_date(text: str) -> date | None:
    """First date in ``text``: ``24 July 2025 at 9.36 am`` or ``2025年8月8日上午10時07分``."""
    for m in (_DATE_EN.search(text), _DATE_ZH.search(text)):
        if not m:
            continue
        try:
            if m.re is _DATE_EN:
                return date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
    return None


def detect_lang(text: str) -> str:
    cjk = len(_CJK_CHAR.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh-Hant" if cjk and cjk >= 0.25 * (cjk + latin / 5) else "en"


# ---------------------------------------------------------------- HTML


def _block_text(el: Tag) -> str:
    for br in el.find_all("br"):
        br.replace_with("\n")
    return clean(el.get_text(""))


def _is_centered(el: Tag) -> bool:
    style = str(el.get("style") or "").replace(" ", "").lower()
    return "text-align:center" in style or str(el.get("align") or "").lower() == "center"


_HEADER_TAGS = ("parties", "coram", "date", "representation", "charge")
_BLOCK_TAGS = ("p", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre")


def parse_judgment_html(data: bytes, *, source_path: str) -> SourceDocument:
    """Parse one Judiciary judgment HTML page (UTF-8 or Big5; the charset is detected)."""
    html = decode_text(data, source_path)
    soup = BeautifulSoup(html, "html.parser")
    title = clean(soup.title.get_text()) if soup.title else ""
    for junk in soup.find_all(["script", "style", "object", "input", "head", "noscript"]):
        junk.decompose()
    order = {id(el): i for i, el in enumerate(soup.find_all(True))}
    header_tags = [t for t in soup.find_all(_HEADER_TAGS)]
    first_header = min((order[id(t)] for t in header_tags), default=None)
    fields: dict[str, list[str]] = {}
    parties: list[str] = []
    for tag in header_tags:
        rows = tag.find_all("tr") or [tag]
        last = tag.name
        for row in rows:
            cells = [_block_text(c) for c in (row.find_all(["td", "th"]) if row.name == "tr" else [row])]
            cells = [c for c in cells if c]
            if tag.name == "parties":
                parties.extend(cells)
                continue
            if not cells:
                continue
            m = _LABEL.match(cells[0])
            if m or cells[0].endswith((":", "：")):
                last = (m.group("label") if m else cells[0].rstrip(":：")).strip()
                values = ([m.group("value")] if m and m.group("value") else []) + cells[1:]
            else:
                values = cells
            fields.setdefault(last, []).extend(v for v in values if v)
    top: list[str] = []
    blocks: list[_Block] = []
    candidates = [el for el in soup.find_all(_BLOCK_TAGS)
                  if el.name != "tr" or el.find(["p", "table", "tr", "li"]) is None]  # leaf table rows only
    cand_ids = {id(el) for el in candidates}
    for el in candidates:
        if any(id(a) in cand_ids or a.name in _HEADER_TAGS for a in el.parents):
            continue
        text = _block_text(el)
        if not text:
            continue
        idx = order[id(el)]
        if first_header is not None and idx < first_header:
            top.append(text)
            continue
        if el.name == "tr":
            cells = [_block_text(c) for c in el.find_all(["td", "th"])]
            text = " | ".join(c for c in cells if c)
        blocks.append(_classify_html_block(el, text))
    if first_header is None:  # no LRS header tags: fall back to the plain-text reading of the blocks
        lines: list[str] = []
        for b in blocks:
            if b.kind == "para":
                lines.append(f"{b.number}. {b.text}")
            elif b.kind == "footnote":
                lines.append(f"[{b.number}] {b.text}")
            else:  # table rows: one line per cell, as a text export has them
                lines.extend(b.text.split(" | "))
        return _from_text_blocks([title, *lines], source_path, data, {})
    body, doc_title = _split_doc_title(blocks)
    body, footnotes = _split_footnotes(body)
    parsed = _Parsed(title=title, top=top, parties=parties, fields=fields, doc_title=doc_title, body=body,
                     footnotes=footnotes)
    return _build(parsed, source_path=source_path, content=data, hints={})


def _classify_html_block(el: Tag, text: str) -> _Block:
    centered = _is_centered(el)
    if _SEP.match(text):
        return _Block(text, "sep", centered=centered)
    para = el.find("a", class_="para") if el.name == "p" else None
    if para is not None:
        m = re.match(r"\d+", para.get_text().strip()) or re.match(r"p(\d+)", str(para.get("name") or ""))
        if m:
            num = int(m.group(1) if m.lastindex else m.group(0))
            return _Block(_PARA_NUM.sub("", text, count=1).strip(), "para", num, centered)
    ftn = el.find("a", attrs={"name": re.compile(r"^_ftn\d+$")})
    if ftn is not None:
        m = _FOOTNOTE.match(text)
        if m:
            return _Block(m.group(2).strip(), "footnote", int(m.group(1)), centered)
    if "heading" in (el.get("class") or []) or el.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return _Block(text, "heading", centered=centered)
    return _Block(text, "text", centered=centered)


def _split_doc_title(blocks: list[_Block]) -> tuple[list[_Block], list[str]]:
    """Leading separators and centred title lines ("J U D G M E N T", "判刑理由書") before the body."""
    i = 0
    doc_title: list[str] = []
    while i < len(blocks) and (blocks[i].kind == "sep" or (blocks[i].centered and blocks[i].kind == "text")):
        if blocks[i].kind != "sep":
            doc_title.append(blocks[i].text)
        i += 1
    return [b for b in blocks[i:] if b.kind != "sep"], doc_title


def _split_footnotes(body: list[_Block]) -> tuple[list[_Block], list[_Block]]:
    notes = [b for b in body if b.kind == "footnote"]
    return [b for b in body if b.kind != "footnote"], notes


# ---------------------------------------------------------------- plain text / JSONL


def parse_judgment_text(text: str, *, source_path: str, content: bytes | None = None,
                        hints: dict[str, Any] | None = None) -> SourceDocument:
    """Parse a judgment given as plain text (blank-line separated blocks, as LRS text exports)."""
    if not text.strip():
        raise EmptySource(source_path, "judgment text is empty")
    blocks = [clean(b) for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    blocks = [b for b in blocks if b]
    raw = content if content is not None else text.encode("utf-8")
    return _from_text_blocks(blocks, source_path, raw, hints or {})


def _from_text_blocks(lines: list[str], source_path: str, content: bytes, hints: dict[str, Any]) -> SourceDocument:
    lines = [ln for ln in lines if ln]
    seps = [i for i, ln in enumerate(lines) if _SEP.match(ln)]
    first_long = next((i for i, ln in enumerate(lines) if len(ln) > 150 or re.match(r"1\.\s", ln)
                       or re.match(r"(?:COURT|官)\s*[:：]", ln)), len(lines))
    label_idx = [i for i, ln in enumerate(lines[:first_long]) if _LABEL.match(ln)]
    title = hints.get("title") or (lines[0] if lines else "")
    top_end = seps[0] if seps else 0
    parties_end = next((s for s in seps if s > top_end), top_end)
    body_start = 0
    if label_idx:
        after = [s for s in seps if s > label_idx[-1]]
        body_start = after[0] + 1 if after else label_idx[-1] + 2
        nxt = [s for s in seps if body_start <= s <= body_start + 3]
        if nxt:  # a document title between two separators ("J U D G M E N T", "判刑理由書")
            body_start = nxt[-1] + 1
    fields: dict[str, list[str]] = {}
    last = None
    for ln in lines[parties_end + 1 : body_start]:
        m = _LABEL.match(ln)
        if m:
            last = m.group("label")
            fields.setdefault(last, [])
            if m.group("value"):
                fields[last].append(m.group("value"))
        elif last and not _SEP.match(ln):
            fields[last].append(ln)
    head_seps = [s for s in seps if s < body_start]
    doc_title = []
    if len(head_seps) >= 2:
        doc_title = [ln for ln in lines[head_seps[-2] + 1 : head_seps[-1]] if not _LABEL.match(ln)]
        if any(_LABEL.match(ln) for ln in lines[head_seps[-2] + 1 : head_seps[-1]]):
            doc_title = []
    body: list[_Block] = []
    expected = 1
    for ln in lines[body_start:]:
        if _SEP.match(ln):
            continue
        m = _PARA_NUM.match(ln)
        if m and int(m.group(1)) == expected:
            body.append(_Block(ln[m.end():].strip(), "para", expected))
            expected += 1
        elif _is_text_heading(ln):
            body.append(_Block(ln, "heading"))
        else:
            body.append(_Block(ln))
    footnotes: list[_Block] = []
    while body and body[-1].kind == "text" and _FOOTNOTE.match(body[-1].text):
        m = _FOOTNOTE.match(body.pop().text)
        assert m is not None
        footnotes.insert(0, _Block(m.group(2).strip(), "footnote", int(m.group(1))))
    parsed = _Parsed(title=title, top=lines[1:top_end] if top_end else lines[1:4], parties=lines[top_end + 1:parties_end],
                     fields=fields, doc_title=doc_title, body=body, footnotes=footnotes)
    return _build(parsed, source_path=source_path, content=content, hints=hints)


def _is_text_heading(line: str) -> bool:
    return (len(line) <= 40 and "\n" not in line and not re.search(r"[:：;；]|[.。,，\-]$", line)
            and not line.startswith(("(", "（", "[", "“", '"', "「")) and not _FOOTNOTE.match(line))


def parse_judgments_jsonl(data: bytes, *, source_path: str) -> Iterator[SourceDocument | IngestError]:
    """One judgment per JSON line (``text`` required; ``neutral_citation``, ``title``, ``court`` used as hints).
    A bad line yields an ``IngestError`` naming ``file#Ln``; the other lines carry on."""
    text = decode_text(data, source_path, sniff_markup=False)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source_path}#L{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield MalformedSource(where, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
            yield MalformedSource(where, "record has no non-empty 'text' field")
            continue
        hints = {k: rec[k] for k in ("neutral_citation", "title", "court", "file", "language") if rec.get(k)}
        try:
            yield parse_judgment_text(rec["text"], source_path=where, content=line.encode("utf-8"), hints=hints)
        except IngestError as exc:
            yield exc


# ---------------------------------------------------------------- assembly


def _parties(lines: list[str]) -> list[dict[str, str | None]]:
    out: list[dict[str, str | None]] = []
    for ln in lines:
        ln = ln.strip()
        if not ln or _PARTY_JOIN.match(ln) or _SEP.match(ln):
            continue
        if _ROLE.match(ln) and out:
            out[-1]["role"] = ln.strip("()（） ")
            continue
        out.append({"name": ln, "role": None})
    return out


def _case_numbers(lines: list[str]) -> list[str]:
    nums: list[str] = []
    for ln in lines:
        for c in get_citations(ln):
            if isinstance(c, HKActionNumber) and c.normalized() not in nums:
                nums.append(c.normalized())
    return nums


def _build(p: _Parsed, *, source_path: str, content: bytes, hints: dict[str, Any]) -> SourceDocument:
    head_text = "\n".join([p.title, *p.top])
    m = NEUTRAL_RE.search(head_text)
    neutral = hints.get("neutral_citation") or (f"[{m.group('year')}] {m.group('court')} {m.group('number')}" if m else None)
    appeal_from = [f"[{a.group('year')}] {a.group('court')} {a.group('number')}"
                   for ln in p.top if re.search(r"on appeal from|上訴自", ln, re.I) for a in NEUTRAL_RE.finditer(ln)]
    case_numbers = [c for c in _case_numbers([*p.top, p.title]) if c]
    court_code = neutral.split()[1] if neutral else None
    if court_code is None and case_numbers:
        court_obj = get_court_by_case_prefix(case_numbers[0].split()[0])
        court_code = court_obj.code if court_obj else None
    court = get_court_by_code(court_code) if court_code else None
    if not neutral and not case_numbers:
        raise MalformedSource(source_path, "no neutral citation or case number found: not a judgment?")
    doc_title = " ".join(" ".join(p.doc_title).split())
    corrigendum = bool(re.search(r"corrigendum|勘誤", doc_title, re.I))
    ident = neutral or case_numbers[0]
    key = f"judgment:{ident}" + (":corrigendum" if corrigendum else "")
    dates = {label: d.isoformat() for label, vals in p.fields.items() if "date" in label.lower() or "日期" in label
             for d in [parse_date(" ".join(vals))] if d}
    body_text = "\n".join(b.text for b in p.body)
    hinted = hints.get("language")
    lang = hinted if isinstance(hinted, str) and hinted in ("en", "zh-Hant") else detect_lang(body_text or p.title)
    units = _units(p, neutral, key, lang)
    if not units:
        raise MalformedSource(source_path, "judgment has no body text")
    own = {c for c in (neutral, *appeal_from) if c is not None}
    authorities = extract_authorities(units, exclude={*own, *case_numbers})
    return SourceDocument(
        kind="judgment",
        key=key,
        title=p.title or ident,
        lang=lang,
        version_date=_judgment_date(p.fields),
        source_path=source_path,
        content_sha256=sha256_hex(content),
        units=units,
        meta={
            "neutral_citation": neutral,
            "court": court_code,
            "court_name": court.name if court else None,
            "court_name_zh": court.name_zh if court else None,
            "case_numbers": case_numbers,
            "parties": _parties(p.parties),
            "coram": _field(p.fields, r"before|coram|主審法官|審理法官|^法官"),
            "representation": _field(p.fields, r"present|出席"),
            "charges": _field(p.fields, r"offen|charge|控罪|罪名"),
            "dates": dates,
            "document_title": doc_title,
            "document_type": "corrigendum" if corrigendum else "judgment",
            "appeal_from": appeal_from,
            "numbered_paragraphs": any(u.citation.paragraph is not None for u in units),
            "paragraph_count": sum(1 for u in units if u.citation.paragraph is not None),
            "footnote_count": len(p.footnotes),
            "cited_authorities": authorities,
            "cited_neutral_citations": [a["neutral_citation"] for a in authorities if a.get("neutral_citation")],
            **({"source_file": hints["file"]} if hints.get("file") else {}),
        },
    )


def _field(fields: dict[str, list[str]], pattern: str) -> list[str]:
    return [v for label, vals in fields.items() if re.search(pattern, label, re.I) for v in vals]


def _judgment_date(fields: dict[str, list[str]]) -> date | None:
    ranked: list[tuple[int, date]] = []
    for label, vals in fields.items():
        low = label.lower()
        if not ("date" in low or "日期" in label):
            continue
        d = parse_date(" ".join(vals))
        if d is None:
            continue
        rank = 0 if re.search(r"judgment|sentence|reasons|decision|判案|判詞|判刑|勘誤|裁決", label, re.I) else (
            2 if re.search(r"hearing|聆訊", label, re.I) else 1)
        ranked.append((rank, d))
    return min(ranked, key=lambda r: (r[0], -r[1].toordinal()))[1] if ranked else None


def _units(p: _Parsed, neutral: str | None, key: str, lang: str) -> list[Unit]:
    units: list[Unit] = []
    numbered = any(b.kind == "para" for b in p.body)
    last_para = max((i for i, b in enumerate(p.body) if b.kind == "para"), default=-1)
    heading = ""
    cur: dict[str, Any] | None = None
    pending: list[dict[str, Any]] = []
    closing = False
    for i, b in enumerate(p.body):
        first_line = b.text.split("\n", 1)[0].strip()
        if not closing and i > last_para and (_SIGNATURE.match(first_line) or _CLOSING.match(first_line)
                                              or (numbered and b.centered)):
            closing = True
            cur = {"key": "closing", "heading": "", "para": None, "texts": []}
            pending.append(cur)
        if closing:
            assert cur is not None
            cur["texts"].append(b.text)
        elif b.kind == "heading":
            nxt = next((x for x in p.body[i + 1:] if x.kind != "heading"), None)
            if numbered and cur is not None and nxt is not None and nxt.kind != "para":
                cur["texts"].append(b.text)  # a sub-heading inside a paragraph (a list of exhibits follows)
            else:
                heading = b.text
                if not numbered:
                    cur = None
        elif b.kind == "para":
            cur = {"key": f"para{b.number}", "heading": heading, "para": b.number, "texts": [b.text]}
            pending.append(cur)
        elif numbered:
            if cur is None:
                cur = {"key": "intro", "heading": heading, "para": None, "texts": []}
                pending.append(cur)
            cur["texts"].append(b.text)
        else:
            n = sum(1 for u in pending if u["key"].startswith("block")) + 1
            pending.append({"key": f"block{n}", "heading": heading, "para": None, "texts": [b.text]})
    for fn in p.footnotes:
        pending.append({"key": f"fn{fn.number}", "heading": f"Footnote {fn.number}" if lang == "en" else f"註{fn.number}",
                        "para": None, "texts": [fn.text], "footnote": fn.number})
    seen: set[str] = set()
    for u in pending:
        k = u["key"]
        while k in seen:  # duplicated paragraph numbers happen in the wild; keep every paragraph
            k += "b"
        seen.add(k)
        units.append(Unit(
            key=k,
            citation=Citation(kind="judgment", neutral_citation=neutral, paragraph=u["para"], lang=lang,
                              doc_id=None if neutral else key),
            heading=u["heading"],
            text="\n".join(u["texts"]),
            lang=lang,
            ordinal=len(units),
            meta={"footnote": u["footnote"]} if "footnote" in u else {},
        ))
    return units


# ---------------------------------------------------------------- cited authorities

_NAME_WORD = r"[A-Z][\w'’.&\-]*"
_CONNECT = r"(?:of|for|and|the|de|la|van|von|du|da|bin|binti|&)"
_CASE_NAME_EN = re.compile(
    rf"(?P<name>(?:{_NAME_WORD}|\d+(?:st|nd|rd|th))(?:\s+(?:{_NAME_WORD}|{_CONNECT}))*\s+v\.?\s+{_NAME_WORD}"
    rf"(?:\s+(?:{_NAME_WORD}|{_CONNECT}|another|others|anor|ors))*(?:\s*[(（][^()（）\n]{{1,40}}[)）])*)"
    r"\s*[,，]?\s*$"
)
_CASE_NAME_RE = re.compile(r"(?P<name>(?:In\s+)?[Rr]e\s+(?:[A-Z][\w'’.&\-]*\s*)+(?:\s*[(（][^()（）\n]{1,40}[)）])*)"
                           r"\s*[,，]?\s*$")
_CASE_NAME_ZH = re.compile(
    r"(?P<name>(?:香港特別行政區|律政司司長|律政司|香港特區|女王|[\u4e00-\u9fff]{2,12}(?:有限公司|公司|委員會|局|處))"
    r"\s*訴\s*[\u4e00-\u9fff]{2,12}?(?:及另[一二三四五六七八九十\d]+人|及其他人|等人)?(?:\s*[(（][^()（）\n]{1,40}[)）])*)"
    r"\s*[,，]?\s*$"
)
_LEAD_WORDS = re.compile(r"^(?:(?:In|See|See also|Cf\.?|Also|And|But|Following|Applying|Per|Thus|Hence|Unlike|"
                         r"Like|As|Under|From|Both|Then|Later|Further|Recently|Similarly|Accordingly)\s+)+")
_PIN_EN = re.compile(r"^[ \t]*,?[ \t]*at[ \t]*(?:\[(?P<b>\d+)\]|paras?\.?[ \t]*(?P<w>\d+)|§[ \t]*(?P<s>\d+))", re.I)
_PIN_ZH = re.compile(r"^[ \t]*[,，]?[ \t]*[(（]?[ \t]*第[ \t]*(?P<z>\d+)[ \t]*段")


def case_name_before(text: str, start: int) -> str | None:
    """The case name that ends right where a citation starts (``HKSAR v Lee Ming Ho [2024] HKCA 150``).
    Unlike hkeyecite, a name followed by other words (or by another citation) is not attached."""
    window = text[max(0, start - 200):start]
    window = re.split(r"[\n;；。]|(?<=[:：])", window)[-1]
    for rx in (_CASE_NAME_EN, _CASE_NAME_RE, _CASE_NAME_ZH):
        m = rx.search(window)
        if m:
            name = _LEAD_WORDS.sub("", m.group("name")).strip(" ,，")
            if " v" in name or "訴" in name or name.lower().startswith(("re ", "in re ")):
                return name
    return None


def pinpoint_after(text: str, end: int) -> int | None:
    tail = text[end:end + 40]
    m = _PIN_EN.match(tail) or _PIN_ZH.match(tail)
    if not m:
        return None
    return int(next(v for v in m.groupdict().values() if v))


def find_case_citations(text: str) -> list[dict[str, Any]]:
    """Neutral, reported and action-number citations in ``text`` with spans, case names and pinpoints.
    Parallel citations of one case (``X v Y [2021] HKCFA 1, (2021) 24 HKCFAR 1``) share one entry."""
    found: list[tuple[int, int, str, str]] = []  # start, end, kind, normalized
    for c in get_citations(text):
        if isinstance(c, HKNeutralCitation) and c.court in COURT_CODES:
            found.append((c.start, c.end, "neutral_citation", c.normalized()))
        elif isinstance(c, HKReportedCitation):
            found.append((c.start, c.end, "report_citation", c.normalized()))
        elif isinstance(c, HKActionNumber):
            found.append((c.start, c.end, "action_number", c.normalized()))
    for m in _NEUTRAL_LENIENT.finditer(text):
        if not any(s <= m.start() < e for s, e, _, _ in found):
            found.append((m.start(), m.end(), "neutral_citation",
                          f"[{m.group('year')}] {m.group('court')} {m.group('number')}"))
    found.sort()
    entries: list[dict[str, Any]] = []
    prev_end = -1
    for start, end, kind, norm in found:
        gap = text[prev_end:start] if prev_end >= 0 else None
        parallel = entries and gap is not None and re.fullmatch(r"\s*[,;]\s*", gap) and not entries[-1].get(kind)
        if parallel:
            entry = entries[-1]
        else:
            entry = {"case_name": case_name_before(text, start), "paragraphs": []}
            entries.append(entry)
        entry[kind] = norm
        entry.setdefault("as_written", []).append(text[start:end])
        pin = pinpoint_after(text, end)
        if pin is not None and pin not in entry["paragraphs"]:
            entry["paragraphs"].append(pin)
        prev_end = end
    return entries


def extract_authorities(units: list[Unit], *, exclude: set[str]) -> list[dict[str, Any]]:
    """Cases cited in the body and footnotes, deduplicated; ``exclude`` drops the judgment's own citation
    and case numbers (and the decision it is on appeal from)."""
    merged: dict[str, dict[str, Any]] = {}
    for u in units:
        for e in find_case_citations(u.text):
            ids: list[str] = [e[k] for k in ("neutral_citation", "report_citation", "action_number") if e.get(k)]
            if not ids or all(i in exclude for i in ids):
                continue
            key = next((i for i in ids if i in merged), ids[0])
            entry = merged.setdefault(key, {"neutral_citation": None, "report_citation": None, "action_number": None,
                                            "case_name": None, "paragraphs": [], "cited_in": []})
            for k in ("neutral_citation", "report_citation", "action_number", "case_name"):
                if e.get(k) and not entry.get(k):
                    entry[k] = e[k]
            for other in ids:
                merged.setdefault(other, entry)
            entry["paragraphs"] += [p for p in e["paragraphs"] if p not in entry["paragraphs"]]
            if u.key not in entry["cited_in"]:
                entry["cited_in"].append(u.key)
    out: list[dict[str, Any]] = []
    for entry in merged.values():
        if not any(entry is o for o in out):
            out.append(entry)
    return out
