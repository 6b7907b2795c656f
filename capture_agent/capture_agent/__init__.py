"""LLMCoder capture agent: a stub until its own issue (see ../README.md)."""

__version__ = "0.0.1"
