"""Knowledge base: ingest parsers (``kb.ingest``), the shared types (``kb.types``) and citations (``kb.citations``)."""
