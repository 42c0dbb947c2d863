"""Run the product doc's example backends (tests/data/backends) as real servers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BACKENDS = Path(__file__).parent / "data" / "backends"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_outside_ephemeral(lo: int = 10000, hi: int = 20000) -> int:
    """A TCP port in [lo, hi) free right now, outside the kernel's ephemeral range (32768-60999),
    where the servers other tests start on port 0 never land."""
    import random

    for _ in range(200):
        port = random.randrange(lo, hi)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def free_udp_block(lo: int, hi: int, span: int, probes: tuple[int, ...] = (0,)) -> int:
    """A random base in [lo, hi) whose UDP ports base+p (p in probes) are free right now."""
    import random

    for _ in range(200):
        base = random.randrange(lo, hi - span, 10)
        socks = []
        try:
            for p in probes:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url}")


@contextlib.contextmanager
def run_backend(kind: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `flask` or `fastapi` backend; yields its base URL (http://127.0.0.1:PORT)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {**os.environ, "MY_PUBLIC_URL": base, **(env or {})}
    if kind == "flask":
        argv = [sys.executable, "-m", "flask", "--app", "flask_app", "run", "--port", str(port), "--host", "127.0.0.1"]
    else:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_app:app",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--log-level",
            "warning",
        ]
    proc = subprocess.Popen(argv, cwd=BACKENDS, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(base + "/", proc=proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
