"""The RQ worker class the pool runs: prepares the process once, before any job."""

from __future__ import annotations

from rq import Worker

from services import startup
from services.jobs import registry


class PreparedWorker(Worker):
    """Loads logging, redaction and every job module up front (the pool forks from this)."""

    def __init__(self, *args, **kwargs) -> None:
        startup.prepare(migrate_db=False)
        registry.load_all()
        super().__init__(*args, **kwargs)
