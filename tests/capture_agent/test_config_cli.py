"""The agent's config file and its command line: private files, clear errors, pairing
against the real server, status and the pause flag."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select, update

from capture_agent import __version__, cli
from capture_agent import config as settings
from capture_agent.config import AgentStatus, Config, ConfigError, Paths
from capture_agent.spool import Spool
from services.db import session_scope
from services.db.models import CaptureEvent, CaptureFrame, CaptureKeys, CapturePairing
from tests.capture_support import CaptureServer, capture_server, free_port

TOKEN = "llmd_" + "s3cr3t" * 6


@pytest.fixture
def server(data_dir) -> Iterator[CaptureServer]:
    """The real capture endpoints (tests/capture_support.py) on this test's database."""
    with capture_server(data_dir) as running:
        yield running


@pytest.fixture
def paths(tmp_path, monkeypatch) -> Paths:
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "agent"))
    return Paths.default()


@pytest.fixture
def paired(paths) -> Config:
    config = Config(server="https://llmcoder.example.com/", token=TOKEN, device_id=7, name="desk")
    settings.save(config, paths)
    return config


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_home_override_holds_config_and_state(paths, tmp_path):
    assert paths.config_file == tmp_path / "agent" / "config.json"
    assert paths.queue_file.parent == paths.status_file.parent == paths.pause_flag.parent == tmp_path / "agent"


def test_saved_config_is_private_and_reads_back(paths, paired):
    assert mode(paths.config_file) == 0o600
    assert mode(paths.config_dir) == 0o700
    loaded = settings.load(paths)
    assert loaded == paired and loaded.server == "https://llmcoder.example.com" and loaded.paired
    assert [p.name for p in paths.config_dir.iterdir()] == ["config.json"]  # no temp file left behind


def test_a_rewrite_of_a_loosened_file_is_private_again(paths, paired):
    os.chmod(paths.config_file, 0o644)
    os.chmod(paths.config_dir, 0o755)
    settings.save(paired, paths)
    assert (mode(paths.config_file), mode(paths.config_dir)) == (0o600, 0o700)


def test_the_token_never_shows_in_the_configs_text(paired):
    assert TOKEN not in repr(paired) and TOKEN not in str(paired)


def test_defaults_when_nothing_was_saved_and_fps_is_clamped(paths):
    config = settings.load(paths)
    assert not config.paired
    assert (config.fps, config.monitor, config.max_width, config.image_format, config.queue_max_mb) == (
        1.0, 1, 1280, "jpeg", 200)
    assert (config.audio, config.keys, config.pause_hotkey) == (True, True, "<ctrl>+<alt>+p")
    assert Config(fps=30).fps == 5.0
    assert Config(fps=0).fps == 0.2


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{not json", "Invalid JSON"),
        ("[1, 2]", "object"),
        ('{"fps": "fast"}', "fps"),
        ('{"image_format": "gif"}', "image_format"),
        ('{"server": "ftp://example.com"}', "server"),
        ('{"frames_per_second": 2}', "frames_per_second"),
    ],
)
def test_a_bad_config_is_an_error_naming_the_file_and_the_problem(paths, text, complaint):
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        settings.load(paths)
    assert str(paths.config_file) in str(caught.value) and complaint in str(caught.value)


def test_cli_reports_a_corrupt_config_instead_of_a_traceback(paths, capsys):
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text('{"token": ')
    code, out, err = run_cli(capsys, "status")
    assert code == 1 and str(paths.config_file) in err and "Traceback" not in err


def test_status_when_not_paired_says_how_to_pair(paths, capsys):
    code, out, err = run_cli(capsys, "status")
    assert code == 1
    assert "not paired" in err and "llmcoder-capture pair --server URL --code CODE" in err


def write_status(paths: Paths, **fields) -> None:
    status = AgentStatus(**{"pid": 4242, "running": True, "updated_at": datetime.now(UTC), **fields})
    settings.write_private_json(paths.status_file, status.model_dump(mode="json"))


def test_status_of_a_running_agent(paths, paired, capsys):
    write_status(paths, connected=True, last_ack_seq=120, pending_events=3, pending_bytes=2_500_000,
                 last_error="The server rejected event 99: bad frame")
    code, out, err = run_cli(capsys, "status")
    assert code == 0
    assert "Device 7 (desk) paired with https://llmcoder.example.com" in out
    assert "running (pid 4242), capturing" in out
    assert "connected; the server has every event up to 120" in out
    assert "3 events waiting, 2.5 MB (limit 200 MB)" in out
    assert "rejected event 99" in out
    assert TOKEN not in out + err


def test_status_of_an_agent_that_stopped_or_went_quiet(paths, paired, capsys):
    write_status(paths, updated_at=datetime.now(UTC) - timedelta(minutes=5))
    code, out, _ = run_cli(capsys, "status")
    assert code == 1 and "not running" in out

    write_status(paths)
    status = settings.read_status(paths)
    settings.write_private_json(paths.status_file, {**status.model_dump(mode="json"), "running": False,
                                                    "refused": "This device was revoked on the Devices page."})
    code, out, _ = run_cli(capsys, "status")
    assert code == 1 and "not running" in out and "revoked on the Devices page" in out


def test_pause_and_resume_set_and_clear_the_flag(paths, paired, capsys):
    code, out, _ = run_cli(capsys, "pause")
    assert code == 0 and paths.pause_flag.exists() and "paused" in out
    write_status(paths, paused=True)
    assert "running (pid 4242), paused" in run_cli(capsys, "status")[1]
    assert run_cli(capsys, "pause")[0] == 0 and paths.pause_flag.exists()  # pausing twice is fine

    code, out, _ = run_cli(capsys, "resume")
    assert code == 0 and not paths.pause_flag.exists() and "resumed" in out
    assert "running (pid 4242), capturing" in run_cli(capsys, "status")[1]
    assert run_cli(capsys, "resume")[0] == 0


def test_run_refuses_to_start_unpaired(paths, capsys):
    code, _, err = run_cli(capsys, "run")
    assert code == 1 and "not paired" in err


def test_bad_arguments_exit_2(paths, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["pair", "--code", "ABCD-EFGH"])
    assert exited.value.code == 2
    assert "--server" in capsys.readouterr().err


def test_the_module_runs_as_a_program(paths):
    done = subprocess.run([sys.executable, "-m", "capture_agent", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"llmcoder-capture {__version__}"


# Pairing against the real server (tests/capture_support.py).

def test_pair_with_a_good_code_saves_a_private_token(paths, server, capsys):
    code = server.pairing_code()
    exit_code, out, err = run_cli(capsys, "pair", "--server", server.url + "/", "--code", code.lower(),
                                  "--name", "build-box")
    assert exit_code == 0, err
    saved = json.loads(paths.config_file.read_text())
    assert saved["token"].startswith("llmd_") and isinstance(saved["device_id"], int)
    assert saved["server"] == server.url and saved["name"] == "build-box"
    assert mode(paths.config_file) == 0o600
    assert f"Paired as device {saved['device_id']} (build-box)" in out
    assert saved["token"] not in out + err


def test_a_code_used_once_is_refused_with_the_servers_message(paths, server, capsys):
    code = server.pairing_code()
    assert run_cli(capsys, "pair", "--server", server.url, "--code", code)[0] == 0
    first = settings.load(paths)

    exit_code, out, err = run_cli(capsys, "pair", "--server", server.url, "--code", code)
    assert exit_code == 1
    assert "This pairing code is not valid or has expired" in err
    assert settings.load(paths) == first  # the working pairing is kept


def test_an_expired_code_is_refused(paths, server, capsys):
    code = server.pairing_code()
    with session_scope() as session:
        session.exec(update(CapturePairing).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    exit_code, _, err = run_cli(capsys, "pair", "--server", server.url, "--code", code)
    assert exit_code == 1 and "not valid or has expired" in err
    assert not paths.config_file.exists()


def test_pairing_again_discards_what_was_queued_for_the_old_pairing(paths, paired, server, capsys):
    settings.ensure_private_dir(paths.state_dir)
    old_queue = Spool(paths.queue_file, max_bytes=1_000_000)
    old_queue.append({"type": "state", "at": datetime.now(UTC), "paused": False})
    old_queue.close()
    exit_code, out, err = run_cli(capsys, "pair", "--server", server.url, "--code", server.pairing_code())
    assert exit_code == 0, err
    assert "queued for the previous pairing were discarded" in out
    assert list(paths.state_dir.glob("queue.sqlite3*")) == []


def test_pairing_while_the_agent_runs_is_refused(paths, paired, capsys):
    write_status(paths)
    exit_code, _, err = run_cli(capsys, "pair", "--server", f"http://127.0.0.1:{free_port()}", "--code", "ABCD-EFGH")
    assert exit_code == 1 and "The agent is running (pid 4242)" in err
    assert settings.load(paths) == paired


def test_pairing_with_a_server_that_is_down_is_a_clear_error(paths, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    exit_code, out, err = run_cli(capsys, "pair", "--server", url, "--code", "ABCD-EFGH")
    assert exit_code == 1
    assert f"Cannot reach {url}/api/capture/pair" in err and "server is running" in err
    assert not paths.config_file.exists()


def test_pairing_with_something_that_is_not_llmcoder_is_a_clear_error(paths, server, capsys):
    exit_code, _, err = run_cli(capsys, "pair", "--server", server.url + "/nothing-here", "--code", "ABCD-EFGH")
    assert exit_code == 1 and "is the address an LLMCoder server?" in err


def test_a_server_address_that_is_not_http_is_refused_before_any_request(paths, capsys):
    exit_code, _, err = run_cli(capsys, "pair", "--server", "llmcoder.example.com", "--code", "ABCD-EFGH")
    assert exit_code == 1 and "https://" in err


# `llmcoder-capture run` as a real process: real sources on Xvfb, the real server.

def stored_rows(device_id: int) -> list[tuple[int, str, str]]:
    """(seq, kind, detail) of everything the server stored for the device, in seq order:
    the typed text for keys, the window title for frames, "paused"/"resumed" for state."""
    rows: list[tuple[int, str, str]] = []
    with session_scope() as session:
        for keys_row in session.exec(select(CaptureKeys).where(CaptureKeys.device_id == device_id)):
            rows.append((keys_row.seq, "keys", keys_row.text))
        for frame_row in session.exec(select(CaptureFrame).where(CaptureFrame.device_id == device_id)):
            rows.append((frame_row.seq, "frame", frame_row.title))
        for event in session.exec(select(CaptureEvent).where(CaptureEvent.device_id == device_id)):
            detail = ("paused" if event.paused else "resumed") if event.kind == "state" else event.title
            rows.append((event.seq, event.kind, detail))
    return sorted(rows)


def typed(device_id: int) -> str:
    return "".join(detail for _, kind, detail in stored_rows(device_id) if kind == "keys")


def state_seqs(device_id: int, detail: str) -> list[int]:
    return [seq for seq, kind, what in stored_rows(device_id) if kind == "state" and what == detail]


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def xdo(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=30)


class AgentProcess:
    def __init__(self, log_path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "capture_agent", "run"], stdout=log,
                                            stderr=subprocess.STDOUT)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def agent(paths, server, xdotool, tmp_path, capsys) -> Iterator[tuple[AgentProcess, int]]:
    """A paired agent running as its own process (audio off: the machine has no microphone)."""
    assert run_cli(capsys, "pair", "--server", server.url, "--code", server.pairing_code(), "--name", "xvfb")[0] == 0
    config = settings.load(paths)
    config.audio, config.fps, config.excluded_titles = False, 5, ["payroll"]
    settings.save(config, paths)
    process = AgentProcess(tmp_path / "agent.log")
    yield process, config.device_id
    process.stop()


def test_a_running_agent_captures_pauses_resumes_and_stops_on_a_signal(agent, server, paths, open_window,
                                                                     capsys):
    process, device_id = agent
    open_window("notes.txt - Editor", "Editor", colour=0x336699)
    wait_until(lambda: state_seqs(device_id, "resumed") and any(
        kind == "frame" for _, kind, _ in stored_rows(device_id)), "the start state and a frame are stored")
    xdo("type", "--delay", "20", "alpha ")
    wait_until(lambda: "alpha" in typed(device_id), "typed text is stored")

    assert run_cli(capsys, "pause")[0] == 0
    wait_until(lambda: state_seqs(device_id, "paused"), "the pause reaches the server")
    open_window("diary.txt - Editor", "Editor", colour=0x993366)  # a new screen and new keys, while paused
    xdo("type", "--delay", "20", "hush ")
    assert run_cli(capsys, "resume")[0] == 0
    wait_until(lambda: len(state_seqs(device_id, "resumed")) == 2, "the resume reaches the server")
    xdo("type", "--delay", "20", "omega ")
    wait_until(lambda: "omega" in typed(device_id), "typing after the resume is stored")
    paused_at, resumed_at = state_seqs(device_id, "paused")[0], state_seqs(device_id, "resumed")[1]
    assert [row for row in stored_rows(device_id) if paused_at < row[0] < resumed_at] == []
    assert "hush" not in typed(device_id)

    xdo("key", "ctrl+alt+p")  # the hotkey writes the same flag as `llmcoder-capture pause`
    wait_until(lambda: paths.pause_flag.exists() and len(state_seqs(device_id, "paused")) == 2, "the hotkey pauses")
    xdo("key", "ctrl+alt+p")
    wait_until(lambda: not paths.pause_flag.exists() and len(state_seqs(device_id, "resumed")) == 3,
               "the hotkey resumes")

    open_window("Payroll - Firefox", "Firefox", colour=0x00AA00)  # excluded by the config's excluded_titles
    xdo("type", "--delay", "20", "salary ")
    open_window("notes.txt - Editor", "Editor", colour=0xAAAA00)
    xdo("type", "--delay", "20", "visible ")
    wait_until(lambda: "visible" in typed(device_id), "typing in an allowed window is stored")
    assert "salary" not in typed(device_id)
    assert not [row for row in stored_rows(device_id) if "Payroll" in row[2]]

    wait_until(lambda: (settings.read_status(paths) or AgentStatus(pid=0, running=False, updated_at=datetime.now(
        UTC))).connected, "status.json says connected", timeout=15)
    code, out, _ = run_cli(capsys, "status")
    assert code == 0 and "running (pid" in out and "capturing" in out and "Server: connected" in out

    assert process.stop() == 0, process.log
    code, out, _ = run_cli(capsys, "status")
    assert code == 1 and "not running" in out
    assert TOKEN not in process.log and settings.load(paths).token not in process.log


def test_a_running_agent_exits_when_its_device_is_revoked(agent, server, paths, capsys):
    process, device_id = agent
    wait_until(lambda: state_seqs(device_id, "resumed"), "the agent is streaming")
    server.revoke(device_id)
    assert process.process.wait(30) == 1
    assert "revoked on the Devices page" in process.log
    code, out, _ = run_cli(capsys, "status")
    assert code == 1 and "not running" in out and "revoked on the Devices page" in out


def test_a_second_agent_on_the_same_state_is_refused(agent, tmp_path):
    process, device_id = agent
    wait_until(lambda: state_seqs(device_id, "resumed"), "the first agent is streaming")
    second = AgentProcess(tmp_path / "second.log")
    assert second.process.wait(30) == 1
    assert "in use by another llmcoder-capture process" in second.log
    assert process.process.poll() is None


def test_a_source_that_cannot_capture_is_named_by_status(paths, server, xvfb, tmp_path, capsys):
    assert run_cli(capsys, "pair", "--server", server.url, "--code", server.pairing_code())[0] == 0
    config = settings.load(paths)
    config.audio, config.monitor = False, 9
    settings.save(config, paths)
    process = AgentProcess(tmp_path / "agent.log")
    try:
        wait_until(lambda: (status := settings.read_status(paths)) is not None and status.problems,
                   "status.json names the problem")
        code, out, _ = run_cli(capsys, "status")
        assert code == 0 and "Not capturing: Monitor 9 does not exist" in out
    finally:
        assert process.stop() == 0, process.log


def test_run_with_a_bad_hotkey_names_the_config_file(paths, paired, capsys):
    config = settings.load(paths)
    config.pause_hotkey = "p"
    settings.save(config, paths)
    code, _, err = run_cli(capsys, "run")
    assert code == 1 and str(paths.config_file) in err and "Hotkey 'p'" in err
