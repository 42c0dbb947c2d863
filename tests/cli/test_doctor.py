"""`wirexa doctor` and `wirexa install-service` through CliRunner, with real sockets, files and
tools: a fresh data dir fails naming `wirexa init`, an initialised one passes, a taken port, a
trunk that answers OPTIONS (a loopback UDP responder) or does not, missing espeak-ng/ffmpeg, half
TTS credentials; the unit file is config/wirexa.service."""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.backends import free_port_outside_ephemeral, free_udp_block
from wirexa.cli import doctor as doctor_module
from wirexa.cli.main import _register_optional, app

_register_optional()
runner = CliRunner()
ROOT = Path(__file__).parent.parent.parent


@pytest.fixture
def ports() -> dict[str, str]:
    # Outside the ephemeral range, so the port-0 servers of tests running beside this one (xdist
    # workers) cannot take a port doctor then finds in use.
    sip = free_udp_block(61000, 65400, 100, tuple(range(0, 20)) + (60, 61, 62, 63))
    return {
        "WIREXA_PORT": str(free_port_outside_ephemeral()),
        "WIREXA_SIP_PORT_BASE": str(sip),
        "WIREXA_SANDBOX_PORT_BASE": str(sip + 60),
        "WIREXA_SIP_RTP_PORT_BASE": str(free_udp_block(20000, 29000, 8000, (0, 5000))),
    }


def doctor(data_dir: Path, env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["doctor", "--json", "--data-dir", str(data_dir), *extra], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    body = json.loads(result.stdout)
    assert body["ok"] == (result.exit_code == 0)
    return result.exit_code, {c["name"]: c for c in body["checks"]}


def init(data_dir: Path, env: dict[str, str]) -> None:
    assert runner.invoke(app, ["init", "--data-dir", str(data_dir)], env=env).exit_code == 0


def test_a_fresh_data_dir_fails_naming_init(tmp_path: Path, ports: dict[str, str]) -> None:
    code, checks = doctor(tmp_path / "none", ports)
    assert code == 1
    assert checks["config"]["status"] == "warn"
    assert checks["data directory"]["status"] == "fail" and "wirexa init" in checks["data directory"]["fix"]
    assert checks["database"]["status"] == "fail"


def test_an_initialised_data_dir_passes(tmp_path: Path, ports: dict[str, str]) -> None:
    init(tmp_path, ports)
    code, checks = doctor(tmp_path, ports)
    assert code == 0, {n: c for n, c in checks.items() if c["status"] != "ok"}
    assert checks["config"]["detail"] == f"{tmp_path / 'wirexa.toml'} parsed"
    assert checks["database"]["detail"].endswith("(current)")
    assert {
        checks[n]["status"] for n in ("API port", "sandbox SIP ports", "espeak-ng", "ffmpeg", "clock", "disk space")
    } == {"ok"}
    table = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path)], env={**ports, "COLUMNS": "200"})
    assert table.exit_code == 0 and "espeak-ng" in table.stdout


def test_a_taken_api_port_fails_naming_the_setting(tmp_path: Path, ports: dict[str, str]) -> None:
    init(tmp_path, ports)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(ports["WIREXA_PORT"])))
        busy.listen()
        code, checks = doctor(tmp_path, ports)
    assert code == 1 and checks["API port"]["status"] == "fail" and "WIREXA_PORT" in checks["API port"]["fix"]


def test_a_bad_config_file_fails_alone(tmp_path: Path, ports: dict[str, str]) -> None:
    (tmp_path / "wirexa.toml").write_text("port = 'x'\n")
    code, checks = doctor(tmp_path, ports)
    assert code == 1 and list(checks) == ["config"] and "port must be int" in checks["config"]["detail"]


@pytest.fixture
def sip_responder() -> Iterator[tuple[int, list[bytes]]]:
    """A UDP socket on loopback answering every request with 200 OK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    seen: list[bytes] = []

    def answer() -> None:
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                return
            if peer is None:  # the socket closed under the blocked recvfrom (the fixture's teardown)
                return
            seen.append(data)
            headers = [
                h for h in data.decode().split("\r\n") if h.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")
            ]
            sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(headers) + "\r\nContent-Length: 0\r\n\r\n").encode(), peer)

    threading.Thread(target=answer, daemon=True).start()
    yield sock.getsockname()[1], seen
    sock.close()


def test_a_trunk_answering_options_passes(
    tmp_path: Path, ports: dict[str, str], sip_responder: tuple[int, list[bytes]]
) -> None:
    port, seen = sip_responder
    init(tmp_path, ports)
    code, checks = doctor(tmp_path, {**ports, "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{port}"})
    assert checks["SIP trunk"]["status"] == "ok" and "SIP/2.0 200 OK" in checks["SIP trunk"]["detail"], checks[
        "SIP trunk"
    ]
    assert seen and seen[0].startswith(b"OPTIONS sip:127.0.0.1:")
    assert "sandbox SIP ports" not in checks and code == 0


def test_a_silent_trunk_fails(tmp_path: Path, ports: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    init(tmp_path, ports)
    # The real OPTIONS probe, given up after 0.3 s instead of the doctor's 3 s.
    monkeypatch.setattr(doctor_module, "sip_options", functools.partial(doctor_module.sip_options, timeout_s=0.3))
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with silent:
        code, checks = doctor(tmp_path, {**ports, "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{silent.getsockname()[1]}"})
    assert (
        code == 1
        and checks["SIP trunk"]["status"] == "fail"
        and "did not answer OPTIONS" in checks["SIP trunk"]["detail"]
    )


def test_missing_tools_name_their_debian_packages(
    tmp_path: Path, ports: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    init(tmp_path, ports)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, checks = doctor(tmp_path, ports)
    assert code == 1
    assert (
        checks["espeak-ng"]["fix"] == "apt-get install espeak-ng"
        and checks["ffmpeg"]["fix"] == "apt-get install ffmpeg"
    )


def test_half_configured_tts_providers_fail(tmp_path: Path, ports: dict[str, str]) -> None:
    init(tmp_path, ports)
    code, checks = doctor(
        tmp_path,
        {
            **ports,
            "WIREXA_TTS_POLLY_ACCESS_KEY_ID": "AKIAX",
            "WIREXA_TTS_AZURE_KEY": "k",
            "WIREXA_TTS_ELEVENLABS_API_KEY": "e",
        },
    )
    assert code == 1
    assert checks["TTS polly"]["status"] == "fail" and "secret_access_key" in checks["TTS polly"]["detail"]
    assert checks["TTS azure"]["status"] == "fail" and checks["TTS elevenlabs"]["status"] == "ok"
    assert "AKIAX" not in json.dumps(checks)


# --- install-service ---------------------------------------------------------------------------


def test_the_shipped_unit_is_what_install_service_writes_for_the_binary() -> None:
    result = runner.invoke(
        app, ["install-service", "--stdout", "--exec", "/usr/local/bin/wirexa", "--config", "/nonexistent/wirexa.toml"]
    )
    assert result.exit_code == 0
    shipped = (ROOT / "config" / "wirexa.service").read_text()
    assert result.stdout == shipped.replace("/etc/wirexa/wirexa.toml", "/nonexistent/wirexa.toml")
    for line in (
        "User=wirexa",
        "Environment=WIREXA_CONFIG=/etc/wirexa/wirexa.toml",
        "StateDirectory=wirexa",
        "Restart=on-failure",
        "KillMode=mixed",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "TimeoutStopSec=60",
        "LimitNOFILE=65536",
        "ExecStart=/usr/local/bin/wirexa serve",
    ):
        assert line in shipped.splitlines(), line


def test_install_service_writes_the_unit_and_config_for_this_venv(tmp_path: Path) -> None:
    cfg = tmp_path / "etc" / "wirexa.toml"
    result = runner.invoke(
        app, ["install-service", "--unit-dir", str(tmp_path / "units"), "--config", str(cfg), "--user", "voice"]
    )
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "units" / "wirexa.service").read_text()
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith("/wirexa serve") and Path(exec_line.split("=", 1)[1].split()[0]).is_file()
    assert "User=voice" in unit and f"WIREXA_CONFIG={cfg}" in unit
    assert 'data_dir = "/var/lib/wirexa"' in cfg.read_text()
    # A bigger call ceiling in the config: more descriptors, a longer stop timeout.
    cfg.write_text(
        cfg.read_text()
        .replace("max_concurrent = 0", "max_concurrent = 5000")
        .replace("shutdown_grace_s = 30.0", "shutdown_grace_s = 120.0")
    )
    again = runner.invoke(app, ["install-service", "--stdout", "--config", str(cfg)])
    assert "LimitNOFILE=524288" in again.stdout and "TimeoutStopSec=150" in again.stdout


def test_trunk_registration_is_read_from_the_engines_health() -> None:
    """The shape wirexa/sip/pool.py puts in /health (tests/sip/test_sip.py::test_trunk_registration
    checks it against a SIPp registrar); doctor turns it into ok / warning / failure."""
    from wirexa.cli.doctor import FAIL, OK, WARN, check_registration

    def status(reg: object) -> str:
        return check_registration({"sip": {"registration": reg}}).status

    assert status({"state": "registered", "code": 200, "workers": 1}) == OK
    assert status({"state": "pending", "workers": 0}) == WARN
    failed = check_registration({"sip": {"registration": {"state": "failed", "code": 403, "reason": "Forbidden"}}})
    assert failed.status == FAIL and "403" in failed.detail
    assert check_registration(None).status == WARN  # no engine running
