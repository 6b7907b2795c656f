"""Sentence embeddings and vector indexes shared by learned templates and Doc Q&A."""
