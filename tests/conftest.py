"""Shared fixtures: a clean environment, and `wirexa serve` run for real as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.backends import free_port, free_udp_block


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("WIREXA_", "TWILIO_", "SIGNALWIRE_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


@dataclass
class LiveServer:
    """A running `wirexa serve` (its own data dir, ports and sandbox)."""

    data_dir: Path
    port: int
    project_id: str
    auth_token: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = self.data_dir / f"serve-{int(time.time() * 1000)}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wirexa", "serve", "--data-dir", str(self.data_dir)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wirexa serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("wirexa serve did not become healthy:\n" + self.log.read_text()[-3000:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill_tree(self) -> None:
        """kill -9 the engine and every worker and sandbox process it started."""
        assert self.proc is not None
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        os.kill(self.proc.pid, signal.SIGKILL)
        for pid in children:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def client(self):  # type: ignore[no-untyped-def]
        from twilio.rest import Client

        client = Client(self.project_id, self.auth_token)
        client.api.base_url = self.base_url
        return client


def make_live_server(
    tmp: Path, extra_env: dict[str, str] | None = None, sandbox_toml: str = "", config: dict[str, str] | None = None
) -> LiveServer:
    """Init and start a server. `config` maps setting keys of the generated wirexa.toml (as
    written there, e.g. "trunk_host") to TOML values that replace their defaults."""
    sip = free_udp_block(40000, 49000, 100, (0, 1, 2, 20, 21, 22, 23))
    rtp = free_udp_block(20000, 29000, 8000, (0, 100, 5000, 5100, 5200, 5300))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    env.update(
        {
            "WIREXA_PORT": str(port),
            "WIREXA_SIP_PORT_BASE": str(sip),
            "WIREXA_SANDBOX_PORT_BASE": str(sip + 20),
            "WIREXA_SIP_RTP_PORT_BASE": str(rtp),
            "WIREXA_SANDBOX_PROCESSES": "4",
            "WIREXA_WEBHOOKS_POLL_INTERVAL_S": "0.2",
            "WIREXA_LOG_LEVEL": "INFO",
        }
    )
    if sandbox_toml:
        path = tmp / "sandbox.toml"
        path.write_text(sandbox_toml)
        env["WIREXA_SANDBOX_CONFIG"] = str(path)
    env.update(extra_env or {})
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "init", "--data-dir", str(tmp), "--json"], env=env, capture_output=True, check=True
    )
    info = json.loads(out.stdout)
    if config:
        import re

        cfg = tmp / "wirexa.toml"
        text = cfg.read_text()
        for key, value in config.items():
            text, n = re.subn(rf"^{re.escape(key)} = .*$", f"{key} = {value}", text, count=1, flags=re.MULTILINE)
            assert n == 1, key
        cfg.write_text(text)
    server = LiveServer(tmp, port, info["project_id"], info["auth_token"], env)
    server.start()
    return server


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[object]:
    servers: list[LiveServer] = []

    def make(extra_env: dict[str, str] | None = None, sandbox_toml: str = "", name: str = "srv") -> LiveServer:
        folder = tmp_path / f"{name}{len(servers)}"
        folder.mkdir()
        server = make_live_server(folder, extra_env, sandbox_toml)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()
