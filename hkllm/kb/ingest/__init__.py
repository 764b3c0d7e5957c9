"""Ingest: files, folders and ZIP archives → ``SourceDocument``s → the store.

* ``sources`` — typed errors, ``SourceItem``, decoding, ``discover`` (what is in a path);
* ``dispatch`` — which parser reads which source (``parse_item``, ``parse_path``);
* ``hklm_xml``, ``judgments``, ``documents`` — the parsers;
* ``run`` — the orchestration (parse → embed → store, one transaction per document, resumable).

The names most callers need are re-exported here.
"""

from hkllm.kb.ingest.dispatch import looks_like_judgment, parse_item, parse_path, parse_paths
from hkllm.kb.ingest.sources import (
    EmptySource,
    IngestError,
    MalformedSource,
    NothingToIngest,
    SourceEncodingError,
    SourceItem,
    UnsupportedFileType,
    decode_text,
    discover,
    sha256_hex,
)

__all__ = [
    "EmptySource",
    "IngestError",
    "MalformedSource",
    "NothingToIngest",
    "SourceEncodingError",
    "SourceItem",
    "UnsupportedFileType",
    "decode_text",
    "discover",
    "looks_like_judgment",
    "parse_item",
    "parse_path",
    "parse_paths",
    "sha256_hex",
]
