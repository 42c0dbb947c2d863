"""Shared fixtures: a clean environment; Settings, a migrated store and a project in tmp_path; the
REST API in process (aiohttp test client over make_app, NullController, no rate limit); and
`wirexa serve` run for real as a subprocess (`make_live_server`; a module's `live_server`; the
end-to-end modules' engines from `engine_fixture`, one of them shared by the session)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.backends import free_port, free_udp_block
from tests.pg import PgCluster, pg_cluster
from wirexa import config
from wirexa.api.app import make_app
from wirexa.api.auth import RateLimiter
from wirexa.api.context import ApiServices
from wirexa.calls.admission import Admission
from wirexa.calls.service import CallController, CallService, NullController
from wirexa.clock import SystemClock
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.repo import ProjectRecord
from wirexa.webhooks import outbox

# Compiled modules are cached (__pycache__) even where the environment sets PYTHONDONTWRITEBYTECODE:
# rewriting and compiling every test module, and the CLI and engine subprocesses compiling wirexa,
# on each run costs seconds. Test modules are imported after this one.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# typer.testing.CliRunner builds the whole click command from the Typer app on every invoke (every
# command's signature inspected, its annotations evaluated): ~10 ms a run, most of the CLI tests'
# time. The app does not change once imported, so the command is built once per app and process.
typer.testing._get_command = functools.cache(typer.main.get_command)  # type: ignore[attr-defined]

# A run started in the background by a non-interactive shell (`pytest ... &`) inherits SIGINT ignored,
# and so would every process the tests start and then stop as Ctrl-C does: catch it again, so that
# those processes start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# The fast inner loop (`-m "not sip and not slow"`: pure, in-process and fake-SIP tests) runs on
# FAST_LOOP_WORKERS pytest-xdist workers unless -n is given: 70 s of small tests take ~30 s on a 2-core
# machine. Every other selection, the README's whole suite included, stays in one process (its SIP
# tests load the machine themselves). `-n 0` runs the fast loop in one process.
FAST_LOOP = "not sip and not slow"
FAST_LOOP_WORKERS = 3


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or config.pluginmanager.getplugin("xdist") is None:
        return
    if " ".join(config.option.markexpr.split()) == FAST_LOOP and config.option.numprocesses is None:
        config.option.numprocesses = FAST_LOOP_WORKERS
        config.option.dist = "load"
        config.option.tx = ["popen"] * FAST_LOOP_WORKERS


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("WIREXA_", "TWILIO_", "SIGNALWIRE_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


def basic(user: str, password: str) -> dict[str, str]:
    """Headers with HTTP Basic credentials (AccountSid:AuthToken)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- in-process API ------------------------------------------------------------------------------


@pytest.fixture
def database_url() -> str:
    """The tests' database_url: "" is SQLite in the data dir. A module that imports
    tests.pg.database_url_on_both runs its tests on SQLite and on PostgreSQL."""
    return ""


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Any:
    """Settings with every default, the data dir in tmp_path, no environment."""
    return config.load(overrides={"data_dir": str(tmp_path), "database_url": database_url}, env={})


@pytest.fixture
def store(settings: Any) -> Iterator[Store]:
    s = open_store(settings)
    yield s
    s.close()


@pytest.fixture
def project(store: Store) -> ProjectRecord:
    return ensure_project(store)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """The session's PostgreSQL server (tests/pg.py): started on first use, one per process."""
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_template(pg: PgCluster) -> str:
    """A migrated database on `pg` that tests copy theirs from (CREATE DATABASE ... TEMPLATE: a
    third of the migrations' cost); its name. No connection to it stays open."""
    url = pg.new_database()
    s = Store(url)
    s.migrate()
    s.close()
    return url.rsplit("/", 1)[1]


ResponseCheck = Callable[[web.Request, web.StreamResponse], None]


@dataclasses.dataclass
class Api:
    """The API app on an aiohttp test client, with the objects behind it."""

    client: TestClient  # type: ignore[type-arg]
    store: Store
    project: ProjectRecord
    settings: Any
    services: ApiServices

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.project.sid, self.project.auth_token)

    @property
    def base(self) -> str:
        return f"/2010-04-01/Accounts/{self.project.sid}"

    async def create(self, **form: str) -> Any:
        data = {"To": "+15005550006", "From": "+15005550100", "Url": "http://127.0.0.1:9/xml", **form}
        return await self.client.post(f"{self.base}/Calls.json", data=data, headers=self.auth)


async def start_api(
    store: Store,
    settings: Any,
    project: ProjectRecord,
    *,
    controller: CallController | None = None,
    limiter: RateLimiter | None = None,
    check: ResponseCheck | None = None,
) -> Api:
    """Serve make_app(ApiServices(...)) on a test client. `check` sees every response the app
    sends (tests/api uses it to validate each Call and Recording JSON against Twilio's schema)."""
    calls = StoreCalls(
        store, status_callbacks=outbox.call_status_callbacks, recording_callbacks=outbox.recording_callbacks("")
    )
    services = ApiServices(
        store=store,
        settings=settings,
        calls=CallService(
            calls,
            controller or NullController(calls, SystemClock()),
            Admission.from_settings(settings, calls, SystemClock()),
        ),
        limiter=limiter or RateLimiter(0, 1),
    )
    app = make_app(services)
    if check is not None:
        inspect = check

        @web.middleware
        async def checking(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            inspect(request, response)
            return response

        app.middlewares.insert(0, checking)
    client = TestClient(TestServer(app))
    await client.start_server()
    return Api(client, store, project, settings, services)


@pytest.fixture
def api_check() -> ResponseCheck | None:
    """Override in a conftest to inspect every response of the `api` fixture."""
    return None


@pytest.fixture
async def api(
    store: Store, settings: Any, project: ProjectRecord, api_check: ResponseCheck | None
) -> AsyncIterator[Api]:
    """The REST API in process: real store, NullController, RateLimiter(0, 1) (unlimited)."""
    a = await start_api(store, settings, project, check=api_check)
    yield a
    await a.client.close()


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
                [sys.executable, "-m", "wirexa", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
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

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.project_id, self.auth_token)

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    env.update({"WIREXA_SANDBOX_PROCESSES": "4", "WIREXA_WEBHOOKS_POLL_INTERVAL_S": "0.2", "WIREXA_LOG_LEVEL": "INFO"})
    if sandbox_toml:
        path = tmp / "sandbox.toml"
        path.write_text(sandbox_toml)
        env["WIREXA_SANDBOX_CONFIG"] = str(path)
    env.update(extra_env or {})
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "init", "--data-dir", str(tmp), "--json"],
        env=env,
        capture_output=True,
        check=True,
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
    # Ports are probed free, but another test run or engine on the machine may take one (the SIP
    # ports are probed for UDP, pjsua2 also listens on TCP; an engine that stays up grows its
    # workers into new ports) before serve binds it: try new ones then.
    for attempt in range(3):
        port = free_port()
        ports = {
            "WIREXA_PORT": str(port),
            "WIREXA_SIP_PORT_BASE": str(free_udp_block(40000, 49000, 100, (0, 1, 2, 60, 61, 62, 63, 90))),
            "WIREXA_SIP_RTP_PORT_BASE": str(free_udp_block(20000, 29000, 8000, (0, 100, 5000, 5100, 5200, 5300))),
        }
        ports["WIREXA_SANDBOX_PORT_BASE"] = str(int(ports["WIREXA_SIP_PORT_BASE"]) + 60)  # room for 60 workers
        ports["WIREXA_SIP_INBOUND_PORT"] = str(int(ports["WIREXA_SIP_PORT_BASE"]) + 90)  # the inbound front
        run_env = {**env, **ports, **(extra_env or {})}
        server = LiveServer(tmp, int(run_env["WIREXA_PORT"]), info["project_id"], info["auth_token"], run_env)
        try:
            server.start()
            return server
        except RuntimeError as exc:
            server.stop()
            said = str(exc) + _logs_of(tmp)
            if attempt == 2 or not any(m in said for m in ("already in use", " is in use")):  # worker, sandbox
                raise
    raise AssertionError("unreachable")


def _logs_of(tmp: Path) -> str:
    logs = tmp / "logs"
    return "".join(p.read_text(errors="replace") for p in logs.glob("*")) if logs.is_dir() else ""


@pytest.fixture(scope="module")
def live_server_env() -> dict[str, str]:
    """WIREXA_* variables for the module's `live_server`; override it in a test module."""
    return {}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, live_server_env: dict[str, str]) -> Iterator[LiveServer]:
    """`wirexa init --json` then `wirexa serve --port P` in a subprocess, healthy; SIGTERM (then
    kill) at the end of the module. Has base_url, project_id, auth_token, data_dir, auth."""
    server = make_live_server(tmp_path_factory.mktemp("live"), live_server_env)
    yield server
    server.stop()


# --- engines shared by the end-to-end modules ----------------------------------------------------

# The sandbox's callees for the shared engine: the union of what the end-to-end modules that share
# it dial (built-in callees plus these; no number means two things).
SANDBOX_CALLEES = """
[default]
answer = "human"
press_delay_s = 0.5

[numbers."+15005550001"]
answer = "busy"
[numbers."+15005550002"]
answer = "ring"
[numbers."+15005550003"]
answer = "fail"
[numbers."+15005550004"]
answer = "decline"
[numbers."+15005550005"]
answer = "machine"
[numbers."+15005550010"]
press_after = 4.5
press = "1"
[numbers."+15005550011"]
press_after = 4.5
press = "2"
[numbers."+15005550019"]
press_after = 4.5
press = "9"
[numbers."+15005550015"]
press_after = 4.5
press = "5"
[numbers."+15005550012"]
press = "1234#"
[numbers."+15005550013"]
press = "#"
press_after = 3.0
[numbers."+15005550030"]
hangup_after_s = 2
[numbers."+15005550031"]
answer = "silence"
[numbers."+15005550032"]
hangup_after_s = 0.6
[numbers."+13125550100"]
hangup_after_s = 2
[numbers."+15005550040"]
reply = "yes.wav"
reply_max = 1
[numbers."+15005550041"]
reply = "sales.wav"
reply_after = 2.5
[numbers."+15005550042"]
reply = ""
press = "3"
press_delay_s = 0.3
[numbers."+15005550043"]
reply = "recorded.wav"
reply_max = 2
"""
# The recorded utterances SANDBOX_CALLEES' speakers play (tests/e2e/test_speech_e2e.py): made
# beside the shared engine's sandbox.toml by flite at its own rate (the sandbox converts them at
# load, as it does a customer's recording). flite's voice, not espeak-ng's: the offline
# recognizer gets espeak-ng's sentences wrong (BENCHMARKS.md, stt).
SANDBOX_UTTERANCES = {
    "yes.wav": ("flite", "yes"),
    "sales.wav": ("flite", "sales please"),
    "sentence.wav": ("flite", "I would like to talk to sales please"),  # tests/e2e/test_conference_e2e.py
    "recorded.wav": ("flite", "please call me back tomorrow morning"),
}


def write_utterances(folder: Path) -> None:
    for name, (engine, text) in SANDBOX_UTTERANCES.items():
        out = str(folder / name)
        cmd = ["flite", "-t", text, "-o", out] if engine == "flite" else ["espeak-ng", "-w", out, text]
        subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def sandbox_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One `wirexa serve` with the default settings and SANDBOX_CALLEES, for every module that
    takes it (engine_fixture(shared=True)): its tests leave the engine as they found it."""
    tmp = tmp_path_factory.mktemp("engine")
    write_utterances(tmp)
    server = make_live_server(tmp, sandbox_toml=SANDBOX_CALLEES)
    yield server
    server.stop()


EngineEnv = dict[str, str] | Callable[[pytest.FixtureRequest], dict[str, str]]


def engine_fixture(
    folder: str = "engine",
    *,
    shared: bool = False,
    sandbox: str | Callable[[Path], str] = "",
    env: EngineEnv | None = None,
    before: Callable[[], object] | None = None,
    name: str = "engine",
) -> Any:
    """A module's `engine` fixture (or `name`). shared: the session's sandbox_engine. Else its own
    `wirexa serve` for the module: `sandbox` is sandbox.toml's text (or makes it from the engine's
    folder), `env` the WIREXA_* variables (or makes them from the request, to use other fixtures),
    `before` runs first; SIGTERM (then kill) at the end of the module."""
    if shared:

        @pytest.fixture(scope="module", name=name)
        def shared_engine(sandbox_engine: LiveServer) -> LiveServer:
            return sandbox_engine

        return shared_engine

    @pytest.fixture(scope="module", name=name)
    def own_engine(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
        if before is not None:
            before()
        tmp = tmp_path_factory.mktemp(folder)
        extra_env = env(request) if callable(env) else env
        server = make_live_server(tmp, extra_env, sandbox(tmp) if callable(sandbox) else sandbox)
        yield server
        server.stop()

    return own_engine
