"""`wirexa serve` started and stopped for real: a second engine beside a running one, `--check`
beside it, Ctrl-C on the terminal's process group (an idle engine exits at once), the banner (where
the CLI and the sandbox's config file are), and `scripts/serve` passing its arguments on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_port, free_udp_block
from tests.conftest import LiveServer, make_live_server

pytestmark = [pytest.mark.sip, pytest.mark.slow]

ROOT = Path(__file__).parent.parent.parent
NOISE = ("Traceback", "Event loop is closed", "Task was destroyed", "Fatal Python error", "restarting", "exited (code")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[LiveServer]:
    server = make_live_server(tmp_path, {"WIREXA_SANDBOX_PROCESSES": "2"})
    yield server
    server.stop()


def snapshot(data_dir: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file the engine's SIP side writes: its logs and sandbox records."""
    files = [p for d in ("logs", "sandbox") for p in (data_dir / d).rglob("*") if p.is_file()]
    return {str(p.relative_to(data_dir)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def health(server: LiveServer) -> Any:
    with urllib.request.urlopen(server.base_url + "/health", timeout=5) as resp:
        return json.loads(resp.read())


def serve(
    data_dir: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wirexa", "serve", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - started


def red_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr[-3000:]
    return lines[0]


def test_a_second_serve_on_the_same_port_exits_at_once_naming_it(running: LiveServer) -> None:
    before = snapshot(running.data_dir)
    done, elapsed = serve(running.data_dir, running.env)
    line = red_line(done)
    assert f"port {running.port} " in line and "--port" in line and "WIREXA_PORT" in line, line
    assert elapsed < 6, elapsed  # it used to wait 16 s for the sandbox's ports
    assert snapshot(running.data_dir) == before  # not one byte into the running engine's logs
    sip = health(running)["sip"]
    assert sip["state"] == "running" and sip["sandbox"]["restarts"] == 0


def test_a_second_serve_on_the_same_sandbox_ports_names_their_setting(running: LiveServer) -> None:
    before = snapshot(running.data_dir)
    done, elapsed = serve(running.data_dir, {**running.env, "WIREXA_PORT": str(free_port())})
    line = red_line(done)
    sandbox_port = running.env["WIREXA_SANDBOX_PORT_BASE"]
    assert f"port {sandbox_port} " in line and "WIREXA_SANDBOX_PORT_BASE" in line, line
    assert elapsed < 12, elapsed  # a short grace for a killed engine's exiting sandbox, not 16 s
    assert snapshot(running.data_dir) == before


def test_check_beside_a_running_engine_is_isolated(running: LiveServer) -> None:
    before = snapshot(running.data_dir)
    entries = sorted(p.name for p in running.data_dir.iterdir())
    done, elapsed = serve(running.data_dir, running.env, "--check")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'status': 'ok'" in done.stderr
    assert not any(n in done.stderr for n in NOISE), done.stderr[-3000:]
    assert snapshot(running.data_dir) == before
    assert sorted(p.name for p in running.data_dir.iterdir()) == entries
    assert health(running)["sip"]["sandbox"]["restarts"] == 0
    print(f"serve --check beside a running engine: {elapsed:.1f} s")


# --- Ctrl-C ---------------------------------------------------------------------------------------


def init(data_dir: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "wirexa", "init", "--data-dir", str(data_dir), "--json"],
        env=env,
        check=True,
        capture_output=True,
    )


def sip_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    sip = free_udp_block(40000, 49000, 100, (0, 1, 60, 61, 90))
    env.update(
        {
            "WIREXA_SIP_PORT_BASE": str(sip),
            "WIREXA_SIP_INBOUND_PORT": str(sip + 90),
            "WIREXA_SANDBOX_PORT_BASE": str(sip + 60),
            "WIREXA_SIP_RTP_PORT_BASE": str(free_udp_block(20000, 29000, 8000, (0, 5000, 5100))),
            "WIREXA_SANDBOX_PROCESSES": "2",
            "WIREXA_LOG_LEVEL": "INFO",
            **extra,
        }
    )
    return env


def start_in_own_group(argv: list[str], env: dict[str, str], out: Path, port: int) -> subprocess.Popen[bytes]:
    """Start like a shell starts a job: its own process group, which a terminal's Ctrl-C signals."""
    with open(out, "wb") as sink:
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, out.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                body = json.loads(resp.read())
                if body["sip"]["state"] == "running" and body["sip"]["sandbox"]["processes"] == 2:
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("serve did not come up:\n" + out.read_text()[-3000:])


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def ctrl_c(proc: subprocess.Popen[bytes], out: Path) -> str:
    """SIGINT to the whole process group, as the terminal sends it; the engine's output after."""
    return timed_ctrl_c(proc, out)[0]


def timed_ctrl_c(proc: subprocess.Popen[bytes], out: Path) -> tuple[str, float]:
    """ctrl_c(), and the seconds from the signal to the engine's exit."""
    children = children_of(proc.pid)
    assert len(children) == 3, children  # two sandbox processes and SIP worker 0
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    elapsed = time.monotonic() - started
    text = out.read_text()
    assert rc == 0, text[-3000:]
    time.sleep(0.5)
    assert [pid for pid in children if alive(pid)] == []
    return text, elapsed


def assert_quiet(text: str, data_dir: Path) -> None:
    assert not any(n in text for n in NOISE), text[-3000:]
    for log in (data_dir / "logs").glob("*"):
        body = log.read_text(errors="replace")
        assert "Fatal Python error" not in body and "KeyboardInterrupt" not in body, (log.name, body[-2000:])


def test_ctrl_c_stops_everything_quietly_and_listens_on_loopback(tmp_path: Path) -> None:
    env = sip_env()
    init(tmp_path, env)
    port = free_port()
    out = tmp_path / "serve.out"
    proc = start_in_own_group(
        [sys.executable, "-m", "wirexa", "serve", "--data-dir", str(tmp_path), "--port", str(port)], env, out, port
    )
    text = ctrl_c(proc, out)
    assert f"listening on http://127.0.0.1:{port}" in text  # the default host, as really bound
    assert_quiet(text, tmp_path)


def test_an_idle_engine_exits_at_once_on_ctrl_c_and_its_banner_says_where_things_are(tmp_path: Path) -> None:
    # PATH without any folder holding a `wirexa` (a checkout's .venv/bin is not on it after scripts/serve).
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "wirexa").exists())
    env = sip_env(PATH=path)
    init(tmp_path, env)
    port = free_port()
    out = tmp_path / "serve.out"
    proc = start_in_own_group(
        [sys.executable, "-m", "wirexa", "serve", "--data-dir", str(tmp_path), "--port", str(port)], env, out, port
    )
    text, elapsed = timed_ctrl_c(proc, out)
    print(f"idle engine: exit {elapsed:.2f} s after Ctrl-C")
    # Generous: it used to take 4-6 s (two fixed 1 s waits in each SIP process, worker then sandbox).
    assert elapsed < 5, elapsed
    assert_quiet(text, tmp_path)
    assert "a second Ctrl-C" in text  # how to skip the grace, said when the first one arrives
    cli = Path(sys.executable).parent / "wirexa"
    assert f"CLI: {cli} " in text and f"{cli} calls list --data-dir {tmp_path}" in text, text[-3000:]
    assert f"Sandbox callees: {tmp_path / 'sandbox.toml'}" in text, text[-3000:]


def test_scripts_serve_gives_init_only_its_options(tmp_path: Path) -> None:
    env = sip_env(WIREXA_SKIP_SETUP="1")
    port = free_port()
    out = tmp_path / "serve.out"
    argv = ["bash", "scripts/serve", "--data-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port)]
    proc = start_in_own_group(argv, env, out, port)
    text = ctrl_c(proc, out)
    assert "Project ID:" in text and f"listening on http://127.0.0.1:{port}" in text
    assert f"port = {port}" in (tmp_path / "wirexa.toml").read_text()  # init got --data-dir and --port
    assert_quiet(text, tmp_path)
