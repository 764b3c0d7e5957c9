"""The knowledge-base store: ``base`` (the abstract store), ``sqlite`` and ``pg`` (one per database),
``records`` (what they exchange), ``tables``, ``vectors`` (the in-memory dense index) and ``open``."""
