"""LLMCoder capture agent: streams a workstation's screen, audio and keys to an LLMCoder
server (see ../README.md)."""

__version__ = "0.1.0"
