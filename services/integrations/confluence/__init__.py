"""Confluence as a wiki source for Doc Q&A: the REST client and the storage-format reader."""
