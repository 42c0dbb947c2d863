"""`wirexa install-service`: write the systemd unit (config/wirexa.service is this command's output
for the binary in /usr/local/bin) and, when missing, /etc/wirexa/wirexa.toml; print the rest.

The unit runs `wirexa serve` as a dedicated user with the config in /etc/wirexa and the data in
/var/lib/wirexa (StateDirectory, so systemd creates it owned by that user). KillMode=mixed: on
`systemctl stop` SIGTERM goes to the engine alone, which stops taking calls, lets live ones run
for `shutdown_grace_s`, then hangs up and stops its SIP worker and sandbox processes itself (they
would drop every call at once if systemd signalled them too); TimeoutStopSec leaves it that long
plus a margin before SIGKILL. `systemctl reload` sends SIGHUP (TTS settings, sandbox callees).
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from wirexa import config
from wirexa.cli.console import console, fail

STOP_MARGIN_S = 30  # after the grace: hang-ups, final callbacks, worker shutdown
FDS_PER_CALL = 64  # engine side of one call at most: worker pipes, webhook and document sockets, files
MIN_NOFILE = 65536


def exec_command() -> list[str]:
    """How this wirexa is started: the frozen binary itself, the venv's console script, or
    `python -m wirexa` with this interpreter."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    script = Path(sys.executable).parent / "wirexa"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "wirexa"]


def nofile_for(max_calls: int) -> int:
    return max(MIN_NOFILE, 1 << math.ceil(math.log2(max(1, max_calls) * FDS_PER_CALL)))


def configured_max_calls(config_file: Path, loaded: int) -> int | None:
    """calls.max_concurrent as the config file sets it: None when 0 or absent (sized from the
    machine where the service runs, not where this command runs), else `loaded`."""
    import tomllib

    try:
        raw = tomllib.loads(config_file.read_text()) if config_file.is_file() else {}
    except (OSError, tomllib.TOMLDecodeError):
        raw = {}
    calls = raw.get("calls", {})
    return loaded if isinstance(calls, dict) and calls.get("max_concurrent") else None


def unit_text(
    command: list[str], *, user: str, config_file: str, data_dir: str, grace_s: float, max_calls: int | None
) -> str:
    """`max_calls` None: calls_max_concurrent is sized from the machine at start (0 in the config);
    MIN_NOFILE descriptors then cover what that sizing allows (it counts 16 per call)."""
    calls = "sized from the machine at start" if max_calls is None else str(max_calls)
    exec_start = " ".join(shlex.quote(part) for part in [*command, "serve"])
    state_dir = data_dir.removeprefix("/var/lib/") if data_dir.startswith("/var/lib/") else ""
    return f"""# Wirexa voice engine as a systemd service; written by `wirexa install-service`.
# Install: useradd --system --home-dir {data_dir} --shell /usr/sbin/nologin {user}
#          systemctl daemon-reload && systemctl enable --now wirexa
# Reload TTS settings and sandbox callees without dropping calls: systemctl reload wirexa

[Unit]
Description=Wirexa voice engine (Twilio/SignalWire-compatible API, SIP)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
Environment=WIREXA_CONFIG={config_file}
Environment=WIREXA_DATA_DIR={data_dir}
{f"StateDirectory={state_dir}" if state_dir else f"ReadWritePaths={data_dir}"}
WorkingDirectory={data_dir}
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM to the engine only: it lets live calls run for shutdown_grace_s ({grace_s:g} s), then
# hangs them up, finalizes them with their callbacks and stops its own SIP processes.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec={math.ceil(grace_s) + STOP_MARGIN_S}
Restart=on-failure
RestartSec=2
# Descriptors for calls_max_concurrent = {calls} (up to {FDS_PER_CALL} per call in the engine).
LimitNOFILE={nofile_for(max_calls or 0)}
NoNewPrivileges=true
ProtectSystem=full
ProtectHome=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
"""


def install_service(
    unit_dir: Annotated[Path, typer.Option("--unit-dir", help="Where the unit file goes.")] = Path(
        "/etc/systemd/system"
    ),
    name: Annotated[str, typer.Option("--name", help="Unit name (without .service).")] = "wirexa",
    user: Annotated[str, typer.Option("--user", help="System user the engine runs as.")] = "wirexa",
    config_file: Annotated[
        Path, typer.Option("--config", help="Config file the service reads (written when missing).")
    ] = Path("/etc/wirexa/wirexa.toml"),
    data_dir: Annotated[str, typer.Option("--data-dir", help="Data directory of the service.")] = "/var/lib/wirexa",
    exec_path: Annotated[
        str | None,
        typer.Option("--exec", help="wirexa executable to run; default: this binary, or this virtualenv's wirexa."),
    ] = None,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the unit instead of writing anything.")] = False,
) -> None:
    """Write a systemd unit running `wirexa serve` (this binary or this virtualenv's wirexa), and
    the config file if missing; print the commands that finish the installation."""
    command = [exec_path] if exec_path else exec_command()
    if config_file.is_file():
        try:
            s = config.load(config_file, env={}, overrides={"data_dir": data_dir})
        except Exception as exc:  # noqa: BLE001 - ConfigError: one red line
            fail(str(exc))
    else:
        s = config.load(env={}, overrides={"data_dir": data_dir})
    text = unit_text(
        command,
        user=user,
        config_file=str(config_file),
        data_dir=data_dir,
        grace_s=s.shutdown_grace_s,
        max_calls=configured_max_calls(config_file, s.calls_max_concurrent),
    )
    if stdout:
        sys.stdout.write(text)
        return
    unit = unit_dir / f"{name}.service"
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        unit.write_text(text, encoding="utf-8")
        wrote_config = False
        if not config_file.exists():
            config_file.parent.mkdir(parents=True, exist_ok=True)
            default = f'data_dir = "{config.SETTINGS[0].default}"'
            config_file.write_text(config.example_toml().replace(default, f'data_dir = "{data_dir}"'), encoding="utf-8")
            wrote_config = True
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror} (run as root, or choose --unit-dir / --config)")
    out = console()
    out.print(f"Wrote {unit}", markup=False)
    if wrote_config:
        out.print(f"Wrote {config_file}", markup=False)
    out.print("Next:", markup=False)
    out.print(
        f"  id -u {user} >/dev/null 2>&1 || useradd --system --home-dir {data_dir} --shell /usr/sbin/nologin {user}",
        markup=False,
    )
    out.print(f"  systemctl daemon-reload && systemctl enable --now {name}", markup=False)
    out.print(
        f"  sudo -u {user} {shlex.join(command)} projects list --config {config_file} --data-dir {data_dir}   # credentials",
        markup=False,
    )
