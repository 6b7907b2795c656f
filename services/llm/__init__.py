"""The LLM gateway and what it keeps: providers, budget, costs, cache, call log, prompts."""
