"""hkllm: an open, self-hostable Hong Kong LLM system."""

__version__ = "0.1.0"
