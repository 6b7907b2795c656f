"""Background jobs: RQ when Redis is there, an in-process runner when it is not."""
