"""Doc Q&A: sources, indexing, questions and evaluation (use-case flows over services.search)."""
