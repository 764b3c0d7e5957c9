"""Knowledge base: legislation, judgments and documents, searched and cited.

``knowledge_base.KnowledgeBase`` is the one object callers use (built by ``hkllm.runtime``); under it,
``analyze`` (text analysis), ``search`` (plan → retrieve → fuse), ``store/`` (SQLite or PostgreSQL),
``embed/`` (dense embedders), ``ingest/`` (sources, parsers, the resumable run), ``citations`` /
``citation_parse`` / ``resolver`` (parse, format, verify against the store) and ``types``.
"""
