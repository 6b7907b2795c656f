"""LLMCoder's service layer: everything that is not UI. Never imports reflex."""
