"""`llmcoder-capture`: pair this workstation, run the agent, see its status, pause it.

Exit codes: 0 done (for `status`: the agent is running), 1 a problem the message explains
(for `status`: not running or not paired), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from capture_agent import __version__, spool
from capture_agent import config as settings
from capture_agent.config import Config, ConfigError, Paths
from capture_agent.protocol import PAIR_PATH

PAIR_TIMEOUT = 15.0
STATUS_STALE_AFTER = timedelta(seconds=15)  # the runner rewrites status.json every few seconds
NOT_PAIRED = ("This workstation is not paired. Create a pairing code on the Devices page of your LLMCoder, "
              "then run: llmcoder-capture pair --server URL --code CODE")


class CliError(Exception):
    """A problem to tell the user in one message (exit code 1)."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    paths = Paths.default()
    try:
        return args.handler(args, paths)
    except (CliError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcoder-capture", description="LLMCoder workstation capture agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    pair = commands.add_parser("pair", help="pair with a server using a code from its Devices page")
    pair.add_argument("--server", required=True, help="the LLMCoder address, e.g. https://llmcoder.example.com")
    pair.add_argument("--code", required=True, help="the pairing code, e.g. ABCD-EFGH")
    pair.add_argument("--name", default=socket.gethostname(), help="this device's name (default: the host name)")
    pair.set_defaults(handler=pair_command)
    for name, handler, text in (
        ("run", run_command, "capture and stream until stopped (Ctrl+C)"),
        ("status", status_command, "show whether the agent runs, is connected, and what is queued"),
        ("pause", pause_command, "stop capturing until `resume` (the agent keeps running)"),
        ("resume", resume_command, "capture again after `pause`"),
    ):
        commands.add_parser(name, help=text).set_defaults(handler=handler)
    return parser


def pair_command(args: argparse.Namespace, paths: Paths) -> int:
    config = settings.load(paths)
    status = settings.read_status(paths)
    if status is not None and _alive(status):
        raise CliError(f"The agent is running (pid {status.pid}) with the current pairing; stop it, then pair again.")
    try:
        server = settings.normalize_server(args.server)
    except ValueError as exc:
        raise CliError(f"Cannot pair: {exc}.") from None
    reply = _post_json(server + PAIR_PATH, {"code": args.code, "name": args.name, "platform": platform.platform()})
    token, device_id = reply.get("token"), reply.get("device_id")
    if not (isinstance(token, str) and token.startswith("llmd_") and isinstance(device_id, int)):
        raise CliError(f"{server} answered the pairing request without a device token; is it an LLMCoder server?")
    config.server, config.token, config.device_id, config.name = server, token, device_id, args.name
    settings.save(config, paths)
    print(f"Paired as device {device_id} ({args.name}) with {server}. Settings: {paths.config_file}")
    if spool.discard(paths.queue_file):
        print("Events still queued for the previous pairing were discarded.")
    print("Start capturing with: llmcoder-capture run")
    return 0


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=PAIR_TIMEOUT) as response:
            reply = json.load(response)
    except urllib.error.HTTPError as exc:
        raise CliError(f"Pairing failed: {_server_error(exc)}") from None
    except urllib.error.URLError as exc:
        raise CliError(f"Cannot reach {url}: {exc.reason}. Check the address and that the server is running.") from None
    except (OSError, TimeoutError) as exc:
        raise CliError(f"Cannot reach {url}: {exc}. Check the address and that the server is running.") from None
    except ValueError:
        raise CliError(f"{url} did not answer with JSON; is the address an LLMCoder server?") from None
    if not isinstance(reply, dict):
        raise CliError(f"{url} did not answer with a JSON object; is the address an LLMCoder server?")
    return reply


def _server_error(error: urllib.error.HTTPError) -> str:
    """The server's own explanation when it gave one ({"error": ...}), else the HTTP status."""
    try:
        message = json.loads(error.read().decode("utf-8")).get("error")
    except (OSError, ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message:
        return message
    if error.code == 404:
        return f"{error.url} does not exist; is the address an LLMCoder server?"
    return f"the server answered HTTP {error.code} {error.reason}."


def _paired_config(paths: Paths) -> Config:
    config = settings.load(paths)
    if not config.paired:
        raise CliError(NOT_PAIRED)
    return config


def run_command(args: argparse.Namespace, paths: Paths) -> int:
    config = _paired_config(paths)
    from capture_agent import runner  # only `run` needs the capture libraries

    return runner.run(config, paths)


def status_command(args: argparse.Namespace, paths: Paths) -> int:
    config = _paired_config(paths)
    print(f"Device {config.device_id} ({config.name}) paired with {config.server}")
    status = settings.read_status(paths)
    paused = paths.pause_flag.exists()
    if status is None or not _alive(status):
        print("Agent: not running" + (" (it will start paused)" if paused else ""))
        if status is not None and status.refused:
            print(f"It stopped because: {status.refused}")
        return 1
    print(f"Agent: running (pid {status.pid}), " + ("paused" if paused else "capturing"))
    connection = "connected" if status.connected else "not connected"
    print(f"Server: {connection}; the server has every event up to {status.last_ack_seq}")
    print(f"Queue: {status.pending_events} events waiting, {status.pending_bytes / 1e6:.1f} MB "
          f"(limit {config.queue_max_mb} MB)")
    for problem in status.problems:
        print(f"Not capturing: {problem}")
    if status.last_error:
        print(f"Last problem: {status.last_error}")
    return 0


def _alive(status: settings.AgentStatus) -> bool:
    return status.running and datetime.now(UTC) - status.updated_at < STATUS_STALE_AFTER


def pause_command(args: argparse.Namespace, paths: Paths) -> int:
    settings.ensure_private_dir(paths.state_dir)
    paths.pause_flag.touch()
    print("Capture paused: nothing is captured until `llmcoder-capture resume` (or the pause hotkey).")
    return 0


def resume_command(args: argparse.Namespace, paths: Paths) -> int:
    paths.pause_flag.unlink(missing_ok=True)
    print("Capture resumed.")
    return 0
