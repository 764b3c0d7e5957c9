"""Find and parse Hong Kong citations in English and Chinese text (used by ``hkllm.kb.citations``).

Recognised (with common variants -- ``Cap 486``, ``s.18``, ``section``, full-width brackets and digits):

* legislation, English: ``Cap. 486 s. 18(1)(a)``, ``Cap. 486, s. 18``, ``Cap. 486 Sch. 1 s. 4``, ``Cap. 486 Sch. 1``,
  ``s. 18(1)(a) of Cap. 486``, ``section 18 of the Personal Data (Privacy) Ordinance (Cap. 486)``,
  ``section 4(1)(a) and (3) of the Dangerous Drugs Ordinance, Cap 134``, ``section 4 of Schedule 1 to Cap. 486``,
  ``Personal Data (Privacy) Ordinance (Cap. 486), s. 18``, ``DPP 4`` / ``data protection principle 4(1)``
  (Cap. 486 Sch. 1);
* legislation, Chinese: ``《個人資料(私隱)條例》(第486章)第18(1)(a)條``, ``第486章第18(1)(a)條``,
  ``香港法例第134章《危險藥物條例》第4(1)(a)及(3)條``, ``第486章第18條第(1)款(a)段``, ``第486章附表1第4條``,
  ``《個人資料(私隱)條例》附表1`` (a title without a chapter number needs a title index), ``第3保障資料原則``;
* judgments: ``[2025] HKCFI 4195``, ``... at [12]``, ``..., at para 12``, ``... 第12段``, ``2024] HKCA 150``;
* uploaded documents: ``doc:privacy-guide § Part 1 > Scope``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from hkllm.errors import InvalidRequest
from hkllm.kb.types import Citation

COURT_CODES = ("HKCFA", "HKCA", "HKCFI", "HKDC", "HKFC", "HKFamC", "HKLT", "HKLdT", "HKLBT", "HKLaT", "HKSCT",
               "HKCT", "HKOAT", "HKCC", "HKCrC", "HKMC", "HKMagC")
_COURTS = "|".join(sorted(COURT_CODES, key=len, reverse=True))


class CitationParseError(InvalidRequest):
    code = "citation_parse_error"


# Full-width ASCII -> ASCII, ideographic space -> space: keeps offsets (one character for one).
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x00A0: 0x20}


def normalize_width(text: str) -> str:
    return text.translate(_WIDTH)


@dataclass(frozen=True)
class FoundCitation:
    """A citation found in text: the parsed ``citation``, where it is, the title written with it (if any)
    and a quotation attributed to it (if any)."""

    citation: Citation
    start: int
    end: int
    text: str
    title: str | None = None
    quote: str | None = None


# ---------------------------------------------------------------- pieces

_SUBPART = r"\((?:\d{1,3}[A-Z]{0,2}|[a-z]{1,4}|[A-Z]{1,2})\)"
_SUB = rf"(?P<sub>(?:\s?{_SUBPART})*)"
_MORE = rf"(?P<more>(?:\s*(?:,|and|or|&|及|或|、|和)\s*{_SUBPART}(?:{_SUBPART})*)*)"
_CAP = r"(?:Chapter|CAP|Cap|cap)\.?\s*(?P<cap>\d{1,4}[A-Z]{0,2})(?![0-9A-Za-z])"
_SEC = rf"(?<![A-Za-z])(?:[Ss]ections?|SECTION|[Ss]ec\.|[Ss]{{1,2}}\.?)\s*(?P<sec>\d{{1,4}}[A-Z]{{0,3}})(?![0-9A-Za-z]){_SUB}"
_SCH = r"(?:Schedule|SCHEDULE|Sch\.?)\s*(?P<sch>\d{1,2}[A-Z]?)(?![0-9A-Za-z])"
_TITLE_EN = (r"(?P<title>(?:[A-Z][\w'’\-]*|\([A-Z][\w'’\- ]*\))(?:\s+(?:[A-Z][\w'’\-]*|\([A-Z][\w'’\- ]*\)|of|and|"
             r"the|for|to|in|on)){0,14}?\s+(?:Ordinance|Regulations?|Rules|Order|Law|Code))")  # bounded: no backtracking blow-up

_EN_FORMS = [
    # Cap. 486 [Sch. 1] [s. 18(1)(a)]
    re.compile(rf"{_CAP}(?:\s*,?\s*{_SCH})?(?:\s*,?\s*{_SEC}{_MORE})?"),
    # s. 18(1)(a) [of Sch. 1] of [the Title] [(]Cap. 486[)]
    re.compile(rf"{_SEC}{_MORE}(?:\s*,?\s*(?:of|in|to)\s+{_SCH})?\s*,?\s*(?:of|in|to|under)\s+(?:the\s+)?"
               rf"(?:{_TITLE_EN}\s*,?\s*)?\(?\s*{_CAP}\s*\)?"),
    # Sch. 1 to [the Title] (Cap. 486)
    re.compile(rf"{_SCH}\s+(?:to|of|in)\s+(?:the\s+)?(?:{_TITLE_EN}\s*,?\s*)?\(?\s*{_CAP}\s*\)?"),
    # the Title (Cap. 486)[, Sch. 1][, s. 18]
    re.compile(rf"{_TITLE_EN}\s*\(\s*{_CAP}\s*\)(?:\s*,?\s*{_SCH})?(?:\s*,?\s*{_SEC}{_MORE})?"),
]
# s. 18 of the Title (no chapter number: resolved through a title index)
_EN_TITLE_ONLY = re.compile(rf"{_SEC}{_MORE}(?:\s*,?\s*(?:of|in|to)\s+{_SCH})?\s*,?\s*(?:of|in|under)\s+(?:the\s+)?"
                            rf"{_TITLE_EN}")
# PDPO s. 35C(2) / s. 35C of the PDPO (an abbreviation from ``short_titles.tsv``; checked against it)
_ABBR = r"(?<![A-Za-z])(?P<abbr>[A-Z][A-Za-z]{1,7})(?![A-Za-z])"
_EN_ABBR_FORMS = [
    re.compile(rf"{_ABBR}\s*,?\s*{_SEC}{_MORE}"),
    re.compile(rf"{_SEC}{_MORE}\s*,?\s*(?:of|in|under)\s+(?:the\s+)?{_ABBR}"),
]
_EN_DPP = re.compile(rf"(?<![A-Za-z])(?:DPP|[Dd]ata [Pp]rotection [Pp]rinciple)\s?(?P<dpp>[1-6])(?![\d]){_SUB}")

_CAPZ = r"(?:香港法例)?第\s*(?P<cap>\d{1,4}[A-Z]{0,2})\s*章"
_TITLEZ = r"《(?P<{name}>[^《》\n]{{1,60}})》"
_SCHZ = r"附表\s*(?P<sch>\d{1,2}[A-Z]?)"
_SECZ = (rf"第\s*(?P<sec>\d{{1,4}}[A-Z]{{0,3}})\s*{_SUB}{_MORE}\s*(?:條(?:\s*第\s*\((?P<kuan>\w{{1,4}})\)\s*款)?"
         r"(?:\s*第?\s*\((?P<duan>\w{1,4})\)\s*段)?(?:\s*第?\s*\((?P<jie>\w{1,6})\)\s*節)?|(?<=\)))")
_ZH_FORMS = [
    re.compile(rf"(?:{_TITLEZ.format(name='title')}\s*)?\(?\s*{_CAPZ}\s*\)?\s*(?:{_TITLEZ.format(name='title2')}\s*)?"
               rf"(?:{_SCHZ}\s*)?(?:{_SECZ})?"),
]
_ZH_TITLE_ONLY = re.compile(rf"{_TITLEZ.format(name='title')}\s*(?:{_SCHZ}\s*)?(?:{_SECZ})?")
_ZH_DPP = re.compile(r"第\s*(?P<dpp>[1-6])\s*保障資料原則")

_NEUTRAL = re.compile(
    rf"\[?\s*(?<![0-9A-Za-z])(?P<year>(?:1[89]|20)\d\d)\s*\]\s*(?P<court>{_COURTS})\s+(?P<number>\d{{1,6}})(?![0-9A-Za-z])"
    r"(?P<pin>\s*,?\s*at\s*(?:\[\s*(?P<p1>\d{1,4})\s*\](?!\s*(?:[A-Z]{2}|\d))(?:\s*[-–]\s*\[\s*\d{1,4}\s*\])?|paras?\.?\s*(?P<p2>\d{1,4})"
    r"|paragraphs?\s*(?P<p3>\d{1,4}))|\s*,?\s*\(?\s*第\s*(?P<p4>\d{1,4})\s*段\)?|\s*,?\s*(?:paras?\.|paragraphs?)\s*"
    r"(?P<p5>\d{1,4})|\s*§\s*(?P<p6>\d{1,4}))?"
)
_DOC = re.compile(r"(?<![\w:])(?P<doc>doc:[\w\-]+)(?:\s*§\s*(?P<docsec>[^\]\)\n;]+))?")


def _subsection(m: re.Match[str]) -> tuple[str, ...]:
    g = m.groupdict()
    parts = re.findall(r"\(([^()]+)\)", g.get("sub") or "")
    for extra in ("kuan", "duan", "jie"):
        if g.get(extra):
            parts.append(g[extra])
    return tuple(p.strip() for p in parts)


def _more(m: re.Match[str]) -> list[tuple[str, ...]]:
    """``and (3)`` after ``4(1)(a)``: further subsections of the same section."""
    raw = m.groupdict().get("more") or ""
    out = []
    for chunk in re.split(r"\s*(?:,|and|or|&|及|或|、|和)\s*", raw):
        parts = tuple(re.findall(r"\(([^()]+)\)", chunk))
        if parts:
            out.append(parts)
    return out


@dataclass(frozen=True)
class KnownTitles:
    """Short titles (normalised, ``normalize_title``) and abbreviations of ordinances → chapter numbers."""

    titles: dict[str, str]
    abbreviations: dict[str, str]


@cache
def known_titles() -> KnownTitles:
    """The data file ``short_titles.tsv`` beside this module (read once: it is package data)."""
    titles: dict[str, str] = {}
    abbreviations: dict[str, str] = {}
    for line in Path(__file__).with_name("short_titles.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cap, kind, name = line.split("\t")
        if kind == "abbr":
            abbreviations[name] = cap
        else:
            titles[normalize_title(name)] = cap
    return KnownTitles(titles, abbreviations)


def normalize_title(title: str) -> str:
    t = normalize_width(title).strip().strip("《》").lower()
    t = re.sub(r"^the\s+", "", t)
    return re.sub(r"\s+", "", t)


def _lang_of(text: str) -> str:
    return "zh-Hant" if re.search(r"[\u3400-\u9fff]", text) else "en"


def _legislation(m: re.Match[str], text: str, *, cap: str | None, lang: str, title: str | None,
                 schedule: str | None = None, section: str | None = None) -> list[FoundCitation]:
    g = m.groupdict()
    sch = schedule or g.get("sch")
    sec = section or g.get("sec")
    if cap is None:
        return []
    base = Citation(kind="legislation", cap=cap, section=sec, schedule=sch, subsection=_subsection(m) if sec else (),
                    lang=lang)
    start, end = m.start(), m.end()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    out = [FoundCitation(base, start, end, text[start:end], title)]
    if sec:
        for extra in _more(m):
            out.append(FoundCitation(replace(base, subsection=extra), start, end, text[start:end], title))
    return out


def _neutral(m: re.Match[str], text: str) -> FoundCitation:
    pin = next((int(m.group(k)) for k in ("p1", "p2", "p3", "p4", "p5", "p6") if m.group(k)), None)
    nc = f"[{m.group('year')}] {m.group('court')} {int(m.group('number'))}"
    lang = "zh-Hant" if m.group("p4") else None
    c = Citation(kind="judgment", neutral_citation=nc, paragraph=pin, lang=lang)
    return FoundCitation(c, m.start(), m.end(), text[m.start():m.end()].strip())


def find_citations(text: str, *, titles: Mapping[str, str] | None = None,
                   default_lang: str | None = None) -> list[FoundCitation]:
    """Every citation in ``text``, in order, longest match first where forms overlap. ``titles`` maps
    normalised titles (``normalize_title``) to chapter numbers, for citations that name a title but no
    chapter. Quotations attributed to a citation are attached (``FoundCitation.quote``)."""
    norm = normalize_width(text)
    cands: list[tuple[int, int, int, list[FoundCitation]]] = []  # start, -length, priority, found
    known = known_titles()
    titles = {**known.titles, **(titles or {})}  # the knowledge base's own titles win

    def add(found: list[FoundCitation], priority: int) -> None:
        if found:
            cands.append((found[0].start, -(found[0].end - found[0].start), priority, found))

    for rx in _EN_FORMS:
        for m in rx.finditer(norm):
            add(_legislation(m, text, cap=m.group("cap"), lang=default_lang or "en", title=m.groupdict().get("title")), 1)
    for m in _EN_TITLE_ONLY.finditer(norm):
        cap = titles.get(normalize_title(m.group("title")))
        add(_legislation(m, text, cap=cap, lang="en", title=m.group("title")), 2)
    for rx in _EN_ABBR_FORMS:
        for m in rx.finditer(norm):
            cap = known.abbreviations.get(m.group("abbr"))
            if cap is not None:
                add(_legislation(m, text, cap=cap, lang="en", title=m.group("abbr")), 2)
    for m in _EN_DPP.finditer(norm):
        add(_legislation(m, text, cap="486", lang="en", title=None, schedule="1", section=m.group("dpp")), 2)
    for rx in _ZH_FORMS:
        for m in rx.finditer(norm):
            title = m.group("title") or m.group("title2")
            add(_legislation(m, text, cap=m.group("cap"), lang="zh-Hant", title=title), 1)
    for m in _ZH_TITLE_ONLY.finditer(norm):
        if not (m.group("sec") or m.group("sch")):
            continue
        cap = titles.get(normalize_title(m.group("title")))
        add(_legislation(m, text, cap=cap, lang="zh-Hant", title=m.group("title")), 2)
    for m in _ZH_DPP.finditer(norm):
        add(_legislation(m, text, cap="486", lang="zh-Hant", title=None, schedule="1", section=m.group("dpp")), 2)
    for m in _NEUTRAL.finditer(norm):
        add([_neutral(m, text)], 0)
    for m in _DOC.finditer(norm):
        sec = (m.group("docsec") or "").strip().rstrip(".,;:。，；：") or None
        end = m.start("docsec") + len(sec) if sec else m.end("doc")
        c = Citation(kind="document", doc_id=m.group("doc"), section=sec)
        add([FoundCitation(c, m.start(), end, text[m.start():end])], 0)
    cands.sort(key=lambda c: (c[0], c[1], c[2]))
    out: list[FoundCitation] = []
    taken_end = -1
    for start, _neg_len, _prio, found in cands:
        if start < taken_end:
            continue
        taken_end = found[0].end
        quote = quote_near(text, found[0].start, found[0].end)
        out.extend(replace(f, quote=quote) if quote else f for f in found)
    return out


# ---------------------------------------------------------------- quotations

_Q_OPEN, _Q_CLOSE = "“\"「『‘", "”\"」』’"
_QUOTE = rf"[{_Q_OPEN}](?P<q>[^{_Q_CLOSE}\n]{{2,2000}})[{_Q_CLOSE}]"
_VERBS = (r"(?:which\s+)?(?:provides|states|reads|says|stipulates|requires|prescribes)(?:\s+(?:as follows|that))?"
          r"|規定|訂明|述明|列明|指明|說明|表明")
_QUOTE_AFTER = re.compile(rf"^\s*[,，]?\s*(?:(?:{_VERBS})\s*[:：,，]?|[:：])\s*{_QUOTE}")
_QUOTE_BEFORE = re.compile(rf"{_QUOTE}\s*[,，]?\s*[(（]?\s*(?:see\s+|見)?$")


def quote_near(text: str, start: int, end: int) -> str | None:
    """A quotation attributed to the citation at ``text[start:end]``: ``Cap. 486 s. 18 provides: "..."``,
    ``第486章第18條規定：「...」`` or ``"..." (Cap. 486 s. 18)``."""
    m = _QUOTE_AFTER.match(text[end:end + 2100])
    if m:
        return m.group("q").strip()
    m = _QUOTE_BEFORE.search(text[max(0, start - 2100):start])
    return m.group("q").strip() if m else None


def parse_citation(value: str, *, titles: Mapping[str, str] | None = None) -> Citation:
    """Parse one citation string (any recognised form, either language). Raises ``CitationParseError``
    when the string is not exactly one citation."""
    found = find_citations(value, titles=titles)
    leftover = value
    for f in sorted({(f.start, f.end) for f in found}, reverse=True):
        leftover = leftover[: f[0]] + leftover[f[1]:]
    if not found or re.sub(r"[\s,.;:()（），。；：、《》\[\]]", "", leftover):
        raise CitationParseError(f"not a recognised citation: {value!r}", param="citation")
    first = found[0]
    if first.citation.kind == "legislation" and first.citation.lang is None:
        return replace(first.citation, lang=_lang_of(value))
    return first.citation
