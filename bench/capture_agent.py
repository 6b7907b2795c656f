"""The capture agent's cost on a workstation: CPU % and bytes/s sent at 1 fps with an idle
screen and with a changing one, and how long a frame takes from capture to its ack.

The real agent (`python -m capture_agent run`, screen and keys on, audio off: Xvfb has no
microphone) runs against the real capture endpoint (granian serving llmcoder_app.api) on a
private Xvfb screen. CPU is the agent process's user+system time (/proc/<pid>/stat) over the
window; bytes are the websocket text the server received, counted by an ASGI wrapper;
latency is each stored frame's `received_at - captured_at` (same clock: one machine), which
is capture, encode, queue, send and store: the server acks right after the store.
Targets (issue #8): idle < 2 % CPU and < 1 KB/s; changing screen < 10 % CPU.

    .venv/bin/python -m bench.capture_agent [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import REPO, fresh, machine, percentiles, write

TICKS = os.sysconf("SC_CLK_TCK")
# A full-screen window whose content changes four times a second: coloured blocks and a
# line of text, roughly what a scrolling editor or a video call does to the frame diff.
PAINTER = """
import random, time
from Xlib import X, display
d = display.Display()
screen = d.screen()
window = screen.root.create_window(0, 0, 1280, 800, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                                   background_pixel=screen.white_pixel)
window.set_wm_name("bench painter")
window.map()
gc = window.create_gc()
rng = random.Random(7)
while True:
    for _ in range(12):
        gc.change(foreground=rng.randrange(0xFFFFFF))
        window.fill_rectangle(gc, rng.randrange(1200), rng.randrange(760), rng.randrange(40, 400), rng.randrange(20, 200))
    gc.change(foreground=screen.black_pixel)
    window.draw_text(gc, rng.randrange(1000), rng.randrange(20, 780), ("log line %d" % rng.randrange(10**6)).encode())
    d.flush()
    time.sleep(0.25)
"""


class Meter:
    """ASGI wrapper counting the bytes of websocket messages the agents send."""

    def __init__(self, app) -> None:
        self.app = app
        self.received = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)

        async def counted():
            message = await receive()
            if message.get("text") is not None:
                self.received += len(message["text"].encode())
            elif message.get("bytes") is not None:
                self.received += len(message["bytes"])
            return message

        return await self.app(scope, counted, send)


@contextmanager
def xvfb() -> Iterator[str]:
    for number in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    name = f":{number}"
    process = subprocess.Popen(["Xvfb", name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("Xvfb did not start")
        time.sleep(0.05)
    try:
        yield name
    finally:
        process.terminate()
        process.wait(10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (all threads)


def agent(home: Path, display: str, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "LLMCODER_CAPTURE_HOME": str(home), "DISPLAY": display}
    return subprocess.Popen([sys.executable, "-m", "capture_agent", *args], env=env, cwd=REPO, **popen)


def measure(process: subprocess.Popen, meter: Meter, seconds: float) -> dict:
    cpu, sent, started = cpu_seconds(process.pid), meter.received, time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    return {"seconds": round(wall, 1), "cpu_percent": round((cpu_seconds(process.pid) - cpu) / wall * 100, 2),
            "bytes_per_second": round((meter.received - sent) / wall, 1)}


def frame_latencies(since_seq: int) -> list[float]:
    from sqlmodel import select

    from services.db import session_scope
    from services.db.models import CaptureFrame

    with session_scope() as session:
        rows = session.exec(select(CaptureFrame.captured_at, CaptureFrame.received_at)
                            .where(CaptureFrame.seq > since_seq)).all()
    return [(received - captured).total_seconds() for captured, received in rows]


def last_seq() -> int:
    from sqlmodel import func, select

    from services.db import session_scope
    from services.db.models import CaptureDevice

    with session_scope() as session:
        return session.exec(select(func.max(CaptureDevice.last_seq))).one() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measured window")
    args = parser.parse_args()
    from llmcoder_app.api import api
    from tests.capture_support import capture_server

    fresh(None)
    home = Path(tempfile.mkdtemp(prefix="llmcoder-agent-bench-"))
    meter = Meter(api)
    results: dict = {"machine": machine(), "fps": 1, "window_seconds": args.seconds}
    with xvfb() as display, capture_server(Path(os.environ["LLMCODER_DATA_DIR"]), app=meter) as server:
        subprocess.run([sys.executable, "-m", "capture_agent", "pair", "--server", server.url,
                        "--code", server.pairing_code(), "--name", "bench"], check=True, cwd=REPO,
                       env={**os.environ, "LLMCODER_CAPTURE_HOME": str(home)}, stdout=subprocess.DEVNULL)
        config_file = home / "config.json"
        config = json.loads(config_file.read_text())
        config.update(fps=1, audio=False, keys=True)
        config_file.write_text(json.dumps(config))
        process = agent(home, display, "run", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)  # start-up and the first frame
            results["idle"] = measure(process, meter, args.seconds)
            painter = subprocess.Popen([sys.executable, "-c", PAINTER], env={**os.environ, "DISPLAY": display})
            try:
                time.sleep(3)
                before = last_seq()
                results["changing"] = measure(process, meter, args.seconds)
                latencies = frame_latencies(before)
            finally:
                painter.terminate()
                painter.wait(10)
        finally:
            process.terminate()
            process.wait(20)
    shutil.rmtree(home, ignore_errors=True)
    results["changing"]["frames_per_second"] = round(len(latencies) / results["changing"]["seconds"], 2)
    results["frame_to_ack"] = percentiles(latencies)
    results["targets"] = {"idle_cpu_percent_below": 2, "idle_bytes_per_second_below": 1024,
                          "changing_cpu_percent_below": 10}
    write("capture_agent", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
