"""Redis connection and the three RQ queues (JSON serializer, never pickle)."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer


QUEUE_NAMES = ("high", "default", "low")


@lru_cache(maxsize=4)
def redis_for(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)


def queue(name: str, connection: Redis) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"Unknown queue {name!r}; use one of {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection, serializer=JSONSerializer)
