"""What every event pays for authorization (a session lookup in the database), what a
sign-in costs (argon2), and how long an in-process job takes from submit to done."""

from __future__ import annotations

import time

from bench.common import fresh, machine, on_postgres, percentiles, write


def measure(label: str, database_url: str | None) -> dict:
    from services.auth import sessions, users
    from services.db.models import Role
    from services.jobs import service

    fresh(database_url)
    user = users.create_user(email=f"bench-{label}@example.com", password="bench password 1", role=Role.admin.value)
    sign_ins = []
    for _ in range(10):
        started = time.perf_counter()
        token, _ = sessions.sign_in(user.email, "bench password 1")
        sign_ins.append(time.perf_counter() - started)
    checks = []
    for _ in range(1000):
        started = time.perf_counter()
        sessions.require(token, Role.admin)
        checks.append(time.perf_counter() - started)
    rounds = []
    for _ in range(20):
        started = time.perf_counter()
        job_id = service.submit(user, "data_export", {"user_id": user.id})
        while service.get(user, job_id).active:
            time.sleep(0.005)
        rounds.append(time.perf_counter() - started)
    return {
        "access_check": percentiles(checks),
        "sign_in_argon2": percentiles(sign_ins),
        "export_job_round_trip_inprocess": percentiles(rounds),
    }


def main() -> None:
    write("auth", {
        "machine": machine(),
        "sqlite": measure("sqlite", None),
        "postgresql": on_postgres(lambda url: measure("pg", url)),
    })


if __name__ == "__main__":
    main()
