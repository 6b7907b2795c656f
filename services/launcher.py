"""The run command: Redis (private when possible), the RQ worker pool and the Reflex app.

Process layout on one machine:
  reflex run (frontend :3000, backend :8000)  +  rq worker-pool -n N  +  redis-server (private)
Without redis-server and REDIS_URL, only the app runs and executes jobs in-process.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from services.jobs.queues import QUEUE_NAMES
from services.settings import REPO_ROOT, get_settings, reset_settings_cache

log = logging.getLogger("llmcoder.launcher")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def start_private_redis(data_dir: Path) -> tuple[subprocess.Popen, str] | None:
    """A redis-server only this app uses, keeping nothing on disk."""
    binary = shutil.which("redis-server")
    if not binary:
        return None
    port = free_port()
    log_file = data_dir / "redis.log"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(data_dir), "--logfile", str(log_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    # The port answering is not enough: it must be our redis-server answering.
    if not _wait_for_port(port, 10) or proc.poll() is not None:
        _stop([proc])
        log.warning("redis-server did not start (see %s); jobs will run in-process.", log_file)
        return None
    return proc, f"redis://127.0.0.1:{port}/0"


def worker_pool_command(redis_url: str, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "rq.cli", "worker-pool", "-n", str(workers), "-u", redis_url,
        "--serializer", "rq.serializers.JSONSerializer", "--worker-class", "services.jobs.worker.PreparedWorker",
        *QUEUE_NAMES,
    ]


def reflex_command(env_mode: str) -> list[str]:
    return [sys.executable, "-m", "reflex", "run", "--env", env_mode]


def _stop(procs: list[subprocess.Popen]) -> None:
    """Newest first and one at a time: the app, then the workers, then Redis they need."""
    for proc in reversed(procs):
        if proc.poll() is not None:
            continue
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except ProcessLookupError:
            continue
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve(*, env_mode: str = "dev", private_redis: bool = True) -> int:
    """Run until the app exits or Ctrl-C; returns the app's exit code."""
    from services import startup

    # SIGTERM (systemd, kill, CI) must stop the children too, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = get_settings()
    procs: list[subprocess.Popen] = []
    env = dict(os.environ)
    if env_mode == "prod":
        # Reflex's prod mode serves the built frontend from the backend: one port.
        env["LLMCODER_BACKEND_PORT"] = str(settings.frontend_port)
    env.setdefault("REFLEX_USE_NPM", "1")
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    try:
        if not settings.redis_url and private_redis:
            started = start_private_redis(settings.data_dir)
            if started:
                procs.append(started[0])
                env["REDIS_URL"] = os.environ["REDIS_URL"] = started[1]
                reset_settings_cache()
                settings = get_settings()
        startup.prepare()
        if settings.redis_url:
            env.setdefault("GRANIAN_WORKERS", str(settings.web_workers))
            procs.append(subprocess.Popen(worker_pool_command(settings.redis_url, settings.workers),
                                          cwd=REPO_ROOT, env=env, start_new_session=True))
            log.info("Started an RQ worker pool of %d processes.", settings.workers)
        app = subprocess.Popen(reflex_command(env_mode), cwd=REPO_ROOT, env=env, start_new_session=True)
        procs.append(app)
        log.info("LLMCoder is starting at http://localhost:%d", settings.frontend_port)
        return app.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        _stop(procs)
