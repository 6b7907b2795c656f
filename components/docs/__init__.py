"""Doc Q&A's page parts: the Ask conversation with its citations, the Sources list and its add forms."""
