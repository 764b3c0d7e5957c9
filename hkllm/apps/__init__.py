"""Apps: typed tasks built on the engine and the knowledge base (grounded Q&A, legal reference, drafting ...).

Each app is one module with an :class:`hkllm.apps.base.App` subclass, registered through the app registry
(``hkllm.apps.base.APPS``: the built-ins listed there, then the ``hkllm.apps`` entry-point group), so that
``GET /v1/apps``, ``hkllm apps`` and the web page list it without further wiring. See ``docs/apps.md``.
"""
