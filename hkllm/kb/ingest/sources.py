"""Sources for ingest: the typed errors, ``SourceItem`` (one file or ZIP member), text decoding and
``discover`` over files, folders and ZIP archives (read in place, never extracted)."""


from __future__ import annotations

import codecs
import hashlib
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from hkllm.errors import InvalidRequest

if TYPE_CHECKING:
    pass

MAX_MEMBER_BYTES = 256 * 1024 * 1024  # refuse single files / ZIP members larger than this (zip bombs)
SCHEMA_SUFFIXES = frozenset({".xsd", ".dtd", ".xsl", ".xslt"})  # shipped beside data; skipped in folders/ZIPs


class IngestError(InvalidRequest):
    """A source could not be ingested. ``path`` names the file (``archive.zip!member`` inside a ZIP)."""

    code = "ingest_error"

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", param="path")


class UnsupportedFileType(IngestError):
    code = "unsupported_file_type"


class EmptySource(IngestError):
    code = "empty_file"


class MalformedSource(IngestError):
    """Malformed XML/HTML/JSON, wrong namespace, truncated or corrupt archive, missing required parts."""

    code = "malformed_source"


class SourceEncodingError(IngestError):
    code = "bad_encoding"


class NothingToIngest(IngestError):
    """A folder or ZIP with no file to read (empty, or only metadata and dot-files)."""

    code = "nothing_to_ingest"


@dataclass(frozen=True)
class SourceItem:
    """One file to parse: a path on disk, or a member of a ZIP archive (``member`` as stored in the ZIP)."""

    path: str
    member: str | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member.replace(chr(92), '/')}" if self.member else self.path

    @property
    def name(self) -> str:
        """The file name (ZIP members may use backslashes as separators)."""
        return PurePosixPath((self.member or self.path).replace("\\", "/")).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def read_bytes(self) -> bytes:
        if self.member is None:
            size = os.path.getsize(self.path)
            if size > MAX_MEMBER_BYTES:
                raise IngestError(self.display, f"file too large ({size} bytes)")
            return Path(self.path).read_bytes()
        try:
            with zipfile.ZipFile(self.path) as zf:
                info = zf.getinfo(self.member)
                if info.file_size > MAX_MEMBER_BYTES:
                    raise IngestError(self.display, f"archive member too large ({info.file_size} bytes)")
                return zf.read(info)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError) as exc:
            raise MalformedSource(self.display, f"cannot read archive member: {exc}") from exc
        except Exception as exc:  # zlib.error / NotImplementedError (unsupported compression)
            raise MalformedSource(self.display, f"cannot read archive member: {exc!r}") from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- encodings

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_XML_DECL_ENC = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_\-]+)["']""")
_CJK_LEGACY = ("big5hkscs", "gb18030")


def _codec(name: str) -> str | None:
    name = name.strip().lower()
    if name in ("big5", "big5-hkscs", "big5hkscs", "x-x-big5", "cp950", "ms950"):
        return "big5hkscs"  # superset used for HK text
    if name in ("gb2312", "gbk", "gb18030"):
        return "gb18030"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


_DOUBLE_ENCODED = re.compile("[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac[\u0153\u009d\u2122\u201c\u201d\u02dc]")


def _looks_garbled(text: str, *, strict_utf8: bool = False) -> bool:
    """Marks of a wrong decode: replacement characters, C1 controls, UTF-8 read as Latin-1 ("Ã©", "â€™").
    Text that was valid UTF-8 may carry a few U+FFFD of its own (characters lost upstream): tolerated
    below 0.5% of the text."""
    bad = text.count("\ufffd")
    if strict_utf8:
        if bad > max(3, len(text) // 200):
            return True
    elif bad:
        return True
    if sum(1 for ch in text if 0x80 <= ord(ch) <= 0x9F) > (3 if strict_utf8 else 0):
        return True
    return len(_DOUBLE_ENCODED.findall(text)) > 3


def _plausible_legacy_cjk(text: str) -> bool:
    """Big5/GB decodes of Western 8-bit text give isolated CJK characters between ASCII letters;
    real Chinese text has runs. Require most non-ASCII characters to sit next to another one."""
    idx = [i for i, ch in enumerate(text) if ord(ch) > 0x7F]
    if not idx:
        return True
    marks = set(idx)
    paired = sum(1 for i in idx if i - 1 in marks or i + 1 in marks)
    return paired / len(idx) >= 0.6


def decode_text(data: bytes, path: str, *, sniff_markup: bool = True) -> str:
    """Decode bytes to text without storing mojibake: BOM, then a declared charset (HTML meta / XML
    declaration), then strict UTF-8, then strict Big5-HKSCS and GB18030 (only when the result is plausible
    Chinese). Anything else raises ``SourceEncodingError`` naming the file."""
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = []
        if sniff_markup:
            head = data[:4096]
            m = _META_CHARSET.search(head) or _XML_DECL_ENC.search(head)
            declared = _codec(m.group(1).decode("ascii", "ignore")) if m else None
            if declared:
                candidates.append(declared)
        candidates += ["utf-8", *_CJK_LEGACY]
    tried: list[str] = []
    for enc in dict.fromkeys(candidates):
        tried.append(enc)
        try:
            text = data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        is_unicode = enc in ("utf-8", "utf-8-sig", "utf-16")
        if _looks_garbled(text, strict_utf8=is_unicode):
            if is_unicode:  # valid UTF-8 that is mojibake inside (double-encoded): no legacy codec will fix it
                break
            continue
        if enc in _CJK_LEGACY and not _plausible_legacy_cjk(text):
            continue
        return text
    raise SourceEncodingError(path, f"cannot decode text reliably (tried {', '.join(tried)})")


# ---------------------------------------------------------------- discovery


_METADATA_NAME = re.compile(
    r"(?i)^(?:readme|provenance|licen[cs]e|copying|notice|changelog|changes|authors|contributing|manifest)"
    r"(?:[._\-].*)?$")


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX") or name in ("Thumbs.db", "desktop.ini")


def is_metadata_file(name: str) -> bool:
    """A file that describes a folder or an archive rather than being one of its documents: ``README*``,
    ``PROVENANCE.md``, ``LICENSE``, ``CHANGELOG`` ... (skipped inside folders and ZIPs unless asked)."""
    return bool(_METADATA_NAME.match(name))


def _skipped_member(name: str, include_metadata: bool) -> bool:
    """Skipped inside a folder or a ZIP: dot-files and OS litter (always), schema files (always),
    metadata files (unless ``include_metadata``)."""
    return (_is_hidden(name) or PurePosixPath(name).suffix.lower() in SCHEMA_SUFFIXES
            or (not include_metadata and is_metadata_file(name)))


def discover(path: str | os.PathLike[str], *, include_metadata: bool = False) -> Iterator[SourceItem | IngestError]:
    """List the sources under ``path`` (file, folder or ZIP) without parsing them. A file named directly is
    always listed; inside folders and ZIPs, dot-files, schema files and (unless ``include_metadata``)
    metadata files (``is_metadata_file``) are skipped."""
    p = Path(path)
    if not p.exists():
        yield IngestError(p, "no such file or folder")
        return
    if p.is_dir():
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
            for name in sorted(files):
                if not _skipped_member(name, include_metadata):
                    yield from discover(Path(root) / name, include_metadata=include_metadata)
        return
    if p.suffix.lower() == ".zip":
        yield from _discover_zip(p, include_metadata)
        return
    yield SourceItem(str(p))


def _discover_zip(p: Path, include_metadata: bool = False) -> Iterator[SourceItem | IngestError]:
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        yield MalformedSource(p, f"not a readable ZIP archive (truncated or corrupt?): {exc}")
        return
    for info in sorted(infos, key=lambda i: i.filename):
        if info.is_dir() or info.filename.endswith(("/", "\\")):
            continue
        item = SourceItem(str(p), info.filename)
        parts = item.member.replace("\\", "/").split("/") if item.member else []
        if any(_is_hidden(part) for part in parts) or _skipped_member(item.name, include_metadata):
            continue
        if item.suffix == ".zip":
            yield UnsupportedFileType(item.display, "nested ZIP archives are not read; unpack the outer one")
            continue
        yield item


# ---------------------------------------------------------------- dispatch
