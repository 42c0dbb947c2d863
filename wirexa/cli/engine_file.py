"""The runtime file `<data_dir>/engine.json`: a running `wirexa serve` writes where it really listens
(its pid, API URL, ports, config file), so that `wirexa call` and `wirexa doctor` find the engine
of the same data directory (also when it was started with --port or port 0) and tell a stale file
(a killed engine) from a live one.

Written by serve after the engine is up, atomically (temp file + rename); removed when it stops,
only if it still names this process (a second engine never removes the first one's file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
from pathlib import Path
from typing import Any

from wirexa import config
from wirexa.config import Settings

FILE_NAME = "engine.json"


@dataclasses.dataclass(frozen=True, slots=True)
class EngineInfo:
    pid: int
    api_url: str
    port: int
    host: str
    data_dir: str
    config_file: str
    version: str
    started_at: float
    sip_ports: tuple[int, ...] = ()  # the sandbox carrier's fixed ports (UDP and TCP)
    sip_port_base: int = 0
    sip_workers_max: int = 0


def path(settings: Settings) -> Path:
    return settings.data_path / FILE_NAME


def write(settings: Settings, info: EngineInfo) -> Path:
    target = path(settings)
    tmp = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    body = dataclasses.asdict(info)
    body["sip_ports"] = list(info.sip_ports)
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def remove(settings: Settings, pid: int) -> None:
    """Remove the file if it still names `pid`."""
    info = read(settings)
    if info is not None and info.pid == pid:
        path(settings).unlink(missing_ok=True)


def read(settings: Settings) -> EngineInfo | None:
    """The file's content, or None when there is none or it is unreadable."""
    try:
        body: dict[str, Any] = json.loads(path(settings).read_text(encoding="utf-8"))
        body["sip_ports"] = tuple(int(p) for p in body.get("sip_ports", ()))
        fields = {f.name for f in dataclasses.fields(EngineInfo)}
        return EngineInfo(**{k: v for k, v in body.items() if k in fields})
    except (OSError, ValueError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (a service account)
        return True
    return True


def live(settings: Settings) -> EngineInfo | None:
    """The engine serving this data directory, when its process is alive."""
    info = read(settings)
    return info if info is not None and pid_alive(info.pid) else None


def info_for(settings: Settings, api_url: str, port: int, sip_ports: list[int]) -> EngineInfo:
    import wirexa

    return EngineInfo(
        pid=os.getpid(),
        api_url=api_url,
        port=port,
        host=settings.host,
        data_dir=str(settings.data_path.absolute()),
        config_file=str(Path(settings.config_file).absolute()) if settings.config_file else "",
        version=wirexa.__version__,
        started_at=time.time(),
        sip_ports=tuple(sip_ports),
        sip_port_base=settings.sip_port_base,
        sip_workers_max=settings.sip_workers_max,
    )


def selection_args(settings: Settings) -> list[str]:
    """The options another wirexa command needs to reach the same engine: --data-dir unless it is
    the default, --config when the file is not the data directory's wirexa.toml."""
    args: list[str] = []
    default = next(str(s.default) for s in config.SETTINGS if s.name == "data_dir")
    default_dir = Path(os.path.expanduser(default)).absolute()
    if settings.data_path.absolute() != default_dir:
        args += ["--data-dir", str(settings.data_path)]
    if settings.config_file and Path(settings.config_file).absolute() != (
        config.default_config_path(str(settings.data_path)).absolute()
    ):
        args += ["--config", settings.config_file]
    return args


def not_running(settings: Settings, api_url: str) -> str:
    """The one-line error when no engine serves this data directory: where it looked, and the
    whole command that starts one."""
    start = shlex.join(["wirexa", "serve", *selection_args(settings)])
    return (
        f"no engine is running for data dir {settings.data_path} (no live {path(settings)}, nothing answers "
        f"{api_url}/health): start one with `{start}`"
    )
