"""Job types by name: a JobRun row names its type, the worker looks it up here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.jobs.progress import ProgressReporter

JobFunction = Callable[[ProgressReporter, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class JobType:
    name: str
    title: str
    queue: str
    run: JobFunction


_types: dict[str, JobType] = {}


def job_type(name: str, *, title: str, queue: str = "default") -> Callable[[JobFunction], JobFunction]:
    """Register a job. The function gets a progress reporter and the params, returns a JSON-able result."""

    def register(fn: JobFunction) -> JobFunction:
        _types[name] = JobType(name, title, queue, fn)
        return fn

    return register


def get(name: str) -> JobType:
    load_all()
    try:
        return _types[name]
    except KeyError:
        raise KeyError(f"Unknown job type {name!r}") from None


def load_all() -> None:
    """Import the modules that register jobs (workers start with an empty registry)."""
    import services.capture.retention  # noqa: F401
    import services.capture.suggest  # noqa: F401
    import services.capture.transcription  # noqa: F401
    import services.docs.indexing  # noqa: F401
    import services.inbox.sending  # noqa: F401
    import services.inbox.sync  # noqa: F401
    import services.jira.sync  # noqa: F401
    import services.jira.tracking  # noqa: F401
    import services.jobs.diagnostics  # noqa: F401
    import services.jobs.export  # noqa: F401
    import services.llm.maintenance  # noqa: F401
    import services.llm.outcomes  # noqa: F401
