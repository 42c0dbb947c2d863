"""`wirexa doctor [--json]`: is this machine and this config ready to place calls?

Each check answers ok, warn or fail, with a detail and, when not ok, how to fix it. Exit 0 when
nothing failed (warnings allowed), 1 otherwise. Checks only look: doctor creates no database,
binds nothing for longer than a probe, and leaves a running engine alone (its ports count as
held by it when `<data_dir>/engine.json` names a live process).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.util
import ipaddress
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from wirexa import config
from wirexa.cli import engine_file, options
from wirexa.cli.console import GAP, Column, console, print_json, render_rows, visible, wrap_words
from wirexa.config import Settings
from wirexa.errors import WirexaError

OK, WARN, FAIL = "ok", "warn", "fail"
DISK_FAIL_BYTES = 200 * 1024 * 1024
DISK_WARN_BYTES = 2 * 1024 * 1024 * 1024
OPTIONS_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def check_config(data_dir: str | None, config_file: str | None) -> tuple[Check, Settings | None]:
    try:
        s = config.load(config_file, overrides={"data_dir": data_dir})
    except WirexaError as exc:
        return Check(
            "config",
            FAIL,
            str(exc),
            "fix the file (config/wirexa.example.toml lists every setting), or run `wirexa init`",
        ), None
    if not s.config_file:
        where = config.default_config_path(s.data_dir)
        return Check(
            "config",
            WARN,
            f"no config file ({where} does not exist): built-in defaults",
            f"run `wirexa init --data-dir {s.data_path}`",
        ), s
    return Check("config", OK, f"{s.config_file} parsed"), s


def check_data_dir(s: Settings) -> Check:
    path = s.data_path
    if not path.is_dir():
        return Check("data directory", FAIL, f"{path} does not exist", f"run `wirexa init --data-dir {path}`")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            "data directory",
            FAIL,
            f"{path} is not writable: {exc.strerror}",
            f"chown it to the user running wirexa (`chown -R $(id -un) {path}`)",
        )
    return Check("data directory", OK, f"{path} writable")


def check_database(s: Settings) -> Check:
    from wirexa.store.db import open_database, redacted, schema_version
    from wirexa.store.migrations import MIGRATIONS

    latest = max(int(m.VERSION) for m in MIGRATIONS)
    if s.db_url.startswith("sqlite:///") and not Path(s.db_url[len("sqlite:///") :]).is_file():
        return Check("database", FAIL, f"no database at {s.db_url}", "run `wirexa init`")
    try:
        db = open_database(s.db_url)
        try:
            version = schema_version(db)
        finally:
            db.close()
    except Exception as exc:  # noqa: BLE001 - any driver error is the answer
        return Check(
            "database",
            FAIL,
            f"cannot read {redacted(s.db_url)}: {exc}",
            "check database_url and the file's permissions",
        )
    if version < latest:
        return Check(
            "database",
            FAIL,
            f"schema version {version}, this wirexa needs {latest}",
            "run `wirexa init` (it migrates), or start `wirexa serve`",
        )
    if version > latest:
        return Check(
            "database",
            FAIL,
            f"schema version {version} is newer than this wirexa's {latest}",
            "run the newer wirexa that migrated it",
        )
    return Check("database", OK, f"schema version {version} (current)")


def check_ports(s: Settings, engine: engine_file.EngineInfo | None) -> list[Check]:
    from wirexa.runtime import port_free

    out: list[Check] = []
    held = f"held by this engine (pid {engine.pid})" if engine else ""
    if engine is not None:
        out.append(Check("API port", OK, f"{engine.api_url} {held}"))
    elif port_free(s.host, s.port):
        out.append(Check("API port", OK, f"{s.host}:{s.port} free"))
    else:
        out.append(
            Check(
                "API port",
                FAIL,
                f"{s.host}:{s.port} is in use by another program",
                "choose another with --port, WIREXA_PORT or port in the config file",
            )
        )
    sandbox = not s.sip_trunk_host and s.sandbox_enabled
    if sandbox:
        from wirexa.sip.sandbox_carrier import sandbox_ports

        ports = sandbox_ports(s)
        busy = [p for p in ports if not port_free(s.sip_bind_host, p, udp=True)]
        span = f"{ports[0]}-{ports[-1]}" if len(ports) > 1 else str(ports[0])
        if engine is not None:
            out.append(Check("sandbox SIP ports", OK, f"{span} {held}"))
        elif busy:
            out.append(
                Check(
                    "sandbox SIP ports",
                    FAIL,
                    f"{', '.join(map(str, busy))} in use by another program",
                    "choose another base with WIREXA_SANDBOX_PORT_BASE or port_base in [sandbox]",
                )
            )
        else:
            out.append(Check("sandbox SIP ports", OK, f"{span} free"))
    base, count = s.sip_port_base, max(1, s.sip_workers_max)
    free = sum(1 for p in range(base, base + count) if port_free(s.sip_bind_host, p, udp=True))
    detail = f"{free} of {count} worker ports {base}-{base + count - 1} free"
    if engine is not None:
        out.append(Check("SIP worker ports", OK, detail + f" (the rest {held} or skipped)"))
    elif free == 0:
        out.append(
            Check(
                "SIP worker ports", FAIL, detail, "choose another base with WIREXA_SIP_PORT_BASE or port_base in [sip]"
            )
        )
    else:
        out.append(
            Check(
                "SIP worker ports",
                OK if free == count else WARN,
                detail + ("" if free == count else " (busy ones are skipped)"),
            )
        )
    rtp = [s.sip_rtp_port_base] + ([s.sip_rtp_port_base + 5000] if sandbox else [])
    busy_rtp = [p for p in rtp if not _udp_free(s.sip_bind_host, p)]
    if engine is not None:
        out.append(Check("RTP ports", OK, f"from {s.sip_rtp_port_base} {held}"))
    elif busy_rtp:
        out.append(
            Check(
                "RTP ports",
                WARN,
                f"{', '.join(map(str, busy_rtp))} in use",
                "choose another base with WIREXA_SIP_RTP_PORT_BASE or rtp_port_base in [sip]",
            )
        )
    else:
        out.append(Check("RTP ports", OK, f"from {s.sip_rtp_port_base} free"))
    return out


def _udp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def sip_options(host: str, port: int, transport: str, timeout_s: float = OPTIONS_TIMEOUT_S) -> tuple[str, str]:
    """Send one SIP OPTIONS to host:port; (status line of the answer, local address). Raises
    OSError (TimeoutError when nothing answers)."""
    transport = transport.lower()
    family, kind, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    )[0]
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout_s)
        sock.connect(address)
        conn: socket.socket = sock  # an ssl.SSLSocket over it for TLS
        if transport == "tls":
            conn = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        local_ip, local_port = sock.getsockname()[:2]
        tag = secrets.token_hex(6)
        message = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport.upper()} {local_ip}:{local_port};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:wirexa-doctor@{local_ip}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {tag}@{local_ip}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            f"Contact: <sip:wirexa-doctor@{local_ip}:{local_port}>\r\n"
            "Accept: application/sdp\r\n"
            "User-Agent: wirexa-doctor\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        deadline = time.monotonic() + timeout_s
        resend = 0.5
        conn.sendall(message)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer in {timeout_s:g} s")
            conn.settimeout(min(left, resend) if transport == "udp" else left)
            try:
                data = conn.recv(65535)
            except TimeoutError:
                if transport == "udp":  # retransmit as RFC 3261's timer A does
                    resend *= 2
                    conn.send(message)
                    continue
                raise
            if not data:
                raise ConnectionResetError("the trunk closed the connection")
            first = data.split(b"\r\n", 1)[0].decode(errors="replace")
            if first.startswith("SIP/2.0 1"):
                continue  # provisional: wait for the final answer
            return first, f"{local_ip}:{local_port}"


def check_trunk(s: Settings, health: dict[str, Any] | None) -> list[Check]:
    if not s.sip_trunk_host:
        detail = (
            "none: calls go to the built-in sandbox carrier" if s.sandbox_enabled else "none, and the sandbox is off"
        )
        status = OK if s.sandbox_enabled else FAIL
        return [
            Check(
                "SIP trunk",
                status,
                detail,
                "" if status == OK else "set trunk_host in [sip], or sandbox enabled = true",
            )
        ]
    host, _, port_text = (
        s.sip_trunk_host.rpartition(":") if s.sip_trunk_host.count(":") == 1 else (s.sip_trunk_host, "", "")
    )
    port = int(port_text) if port_text.isdigit() else (5061 if s.sip_trunk_transport == "tls" else 5060)
    out: list[Check] = []
    try:
        addresses = sorted({str(a[4][0]) for a in socket.getaddrinfo(host, port)})
    except socket.gaierror as exc:
        return [
            Check(
                "SIP trunk",
                FAIL,
                f"{host} does not resolve: {exc.strerror}",
                "check trunk_host in [sip] and this machine's DNS",
            )
        ]
    try:
        answer, _ = sip_options(host, port, s.sip_trunk_transport)
        out.append(
            Check(
                "SIP trunk",
                OK,
                f"{host}:{port} ({', '.join(addresses)}) answered OPTIONS over {s.sip_trunk_transport}: {answer}",
            )
        )
    except (OSError, ValueError) as exc:
        out.append(
            Check(
                "SIP trunk",
                FAIL,
                f"{host}:{port} ({', '.join(addresses)}) did not answer OPTIONS over {s.sip_trunk_transport}: {exc or type(exc).__name__}",
                "check trunk_host, trunk_transport and the firewall (the trunk must allow this machine's address)",
            )
        )
    if s.sip_trunk_register:
        out.append(check_registration(health))
    return out


# Addresses a box behind NAT has, that nobody on the internet can send RTP to: RFC 1918, the
# carrier-grade NAT block (RFC 6598), loopback and link-local. Not ipaddress.is_private, which
# also counts the documentation blocks (TEST-NET) and other special ranges as private.
PRIVATE_NETS = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16")
)


def is_private(address: str) -> bool:
    """A private (RFC 1918, RFC 6598), loopback or link-local IPv4 address."""
    try:
        addr = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return any(addr in net for net in PRIVATE_NETS)


def local_address_toward(remote: str) -> str:
    """The source address the kernel picks for packets to `remote` (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((remote, 9))
        return str(sock.getsockname()[0])


def check_nat(s: Settings, resolve: Callable[[str], list[str]] | None = None) -> list[Check]:
    """Would the SDP toward a public trunk carry a private address? (One-way audio behind NAT.)
    Only with a trunk; `resolve` (host -> IPv4 addresses) is for tests."""
    if not s.sip_trunk_host:
        return []
    public = s.sip_public_rtp_address or s.sip_public_address
    if public:
        return [Check("NAT", OK, f"SDP and Contact carry the public address {public}")]
    host = s.sip_trunk_host.rpartition(":")[0] if s.sip_trunk_host.count(":") == 1 else s.sip_trunk_host
    try:
        trunk = (resolve or _ipv4_addresses)(host)
    except OSError:
        return []  # the SIP trunk check reports a name that does not resolve
    public_trunk = [a for a in trunk if not is_private(a)]
    if not public_trunk:
        return [Check("NAT", OK, f"the trunk ({', '.join(trunk) or host}) is on a private network: no NAT rewriting")]
    sdp = s.sip_bind_host
    if sdp in ("", "0.0.0.0"):
        try:
            sdp = local_address_toward(public_trunk[0])
        except OSError:
            return []
    if not is_private(sdp):
        return [Check("NAT", OK, f"SDP carries {sdp}, a public address")]
    return [
        Check(
            "NAT",
            WARN,
            f"the SDP would carry the private address {sdp} to the public trunk {public_trunk[0]}: "
            "the trunk's audio would not reach this machine",
            "set public_address in [sip] (WIREXA_SIP_PUBLIC_ADDRESS) to this machine's public IPv4 address",
        )
    ]


def _ipv4_addresses(host: str) -> list[str]:
    return sorted({str(a[4][0]) for a in socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)})


def check_registration(health: dict[str, Any] | None) -> Check:
    if health is None:
        return Check(
            "trunk registration",
            WARN,
            "the engine is not running: registration is made by `wirexa serve`",
            "start `wirexa serve`, then run doctor again",
        )
    sip = health.get("sip") or {}
    reg = sip.get("registration") or (sip.get("trunk") or {}).get("registration")
    if reg is None:
        return Check("trunk registration", WARN, "this engine does not report its registration in /health")
    state = reg.get("state") if isinstance(reg, dict) else str(reg)
    if state in ("registered", "ok", True):
        return Check("trunk registration", OK, "registered")
    if state == "pending":
        return Check(
            "trunk registration", WARN, "no answer from the registrar yet", "run doctor again in a few seconds"
        )
    return Check(
        "trunk registration",
        FAIL,
        f"not registered: {reg}",
        "check trunk_username, trunk_password and trunk_from_domain",
    )


def check_capacity(s: Settings, health: dict[str, Any] | None) -> Check:
    """The engine's ceiling: calls at once, worker processes, and what limits them on this machine."""
    from wirexa.sip.pool import capacity_report

    report = capacity_report(s)
    running = ((health or {}).get("sip") or {}).get("capacity")
    if isinstance(running, dict):
        report = running  # the engine's own figures (its settings, its view of the machine)
    machine = report["machine"]
    assert isinstance(machine, dict)
    sized = (s.sip_workers_max, s.calls_max_concurrent) == (machine["workers_max"], machine["calls_max"])
    how = "sized from this machine" if sized else "set in the configuration"
    detail = (
        f"{report['ceiling']} calls at once ({s.sip_workers_max} workers x 4 calls, calls.max_concurrent "
        f"{s.calls_max_concurrent}; {how}); this machine allows {machine['calls_max']}, limited by "
        f"{machine['limited_by']} ({machine['cores']} cores, {machine['memory_available_mb']} MB available, "
        f"{machine['open_files_limit']} open files)"
    )
    over = int(str(report["ceiling"])) > int(str(machine["calls_max"])) + 1
    return Check(
        "capacity",
        WARN if over else OK,
        detail,
        "set sip.workers_max and calls.max_concurrent to 0 to size them from the machine" if over else "",
    )


def check_tools(s: Settings) -> list[Check]:
    out = []
    for name, binary, package in (("espeak-ng", s.tts_espeak_binary, "espeak-ng"), ("ffmpeg", "ffmpeg", "ffmpeg")):
        found = shutil.which(binary)
        if found:
            out.append(Check(name, OK, found))
        else:
            use = (
                "<Say> without a cloud TTS provider"
                if name == "espeak-ng"
                else "<Record> MP3s, <Play> and speech conversion"
            )
            out.append(
                Check(name, FAIL, f"{binary} not found on PATH (needed for {use})", f"apt-get install {package}")
            )
    return out


def check_tts(s: Settings) -> list[Check]:
    """Each provider that is configured at all has every credential it needs."""
    out = []
    if s.tts_polly_access_key_id or s.tts_polly_secret_access_key:
        if s.tts_polly_access_key_id and s.tts_polly_secret_access_key:
            out.append(Check("TTS polly", OK, f"access key and secret set (region {s.tts_polly_region})"))
        else:
            missing = "secret_access_key" if s.tts_polly_access_key_id else "access_key_id"
            out.append(
                Check(
                    "TTS polly",
                    FAIL,
                    f"polly_{missing} is empty",
                    f"set polly_{missing} in [tts] (or WIREXA_TTS_POLLY_{missing.upper()})",
                )
            )
    if s.tts_google_api_key:
        out.append(Check("TTS google", OK, "API key set"))
    elif s.tts_google_service_account_file:
        path = Path(os.path.expanduser(s.tts_google_service_account_file))
        if path.is_file() and os.access(path, os.R_OK):
            out.append(Check("TTS google", OK, f"service account {path}"))
        else:
            out.append(
                Check(
                    "TTS google",
                    FAIL,
                    f"service account file {path} is missing or unreadable",
                    "fix google_service_account_file in [tts]",
                )
            )
    if s.tts_elevenlabs_api_key:
        out.append(Check("TTS elevenlabs", OK, "API key set"))
    if s.tts_azure_key:
        if s.tts_azure_region or s.tts_azure_endpoint_url:
            out.append(Check("TTS azure", OK, f"key set (region {s.tts_azure_region or s.tts_azure_endpoint_url})"))
        else:
            out.append(
                Check(
                    "TTS azure",
                    FAIL,
                    "azure_key is set but azure_region is empty",
                    "set azure_region in [tts] (eastus, westeurope, ...)",
                )
            )
    if s.tts_gtts_enabled:
        out.append(Check("TTS gtts", OK, "enabled (no credentials needed)"))
    if not out:
        out.append(Check("TTS providers", OK, "none configured: <Say> uses espeak-ng"))
    return out


STT_PROVIDERS = ("google", "amazon", "azure", "deepgram", "vosk", "pocketsphinx")


def check_stt(s: Settings) -> list[Check]:
    """One line per speech recognizer: configured (and complete) or not, and why; vosk's model
    directory and package, pocketsphinx's bundled en-US model. A configured provider missing
    from [stt] providers is a warning: it is never tried."""
    order = [p.strip() for p in s.stt_providers.split(",") if p.strip()]
    out: list[Check] = []
    for name in STT_PROVIDERS:
        check = _stt_check(s, name)
        if check.status == OK and check.detail != "not configured" and name not in order and name != "pocketsphinx":
            check = Check(
                check.name, WARN, f"{check.detail}, but not in [stt] providers", f"add {name} to [stt] providers"
            )
        out.append(check)
    unknown = [p for p in order if p not in STT_PROVIDERS]
    if unknown:
        out.append(
            Check(
                "STT providers",
                FAIL,
                f"unknown provider(s) in [stt] providers: {', '.join(unknown)}",
                f"use {', '.join(STT_PROVIDERS)}",
            )
        )
    return out


def _stt_check(s: Settings, name: str) -> Check:
    label = f"STT {name}"
    if name == "google":
        return Check(label, OK, "API key set" if s.stt_google_api_key else "not configured")
    if name == "amazon":
        if not (s.stt_amazon_access_key_id or s.stt_amazon_secret_access_key):
            return Check(label, OK, "not configured")
        if s.stt_amazon_access_key_id and s.stt_amazon_secret_access_key:
            return Check(label, OK, f"access key and secret set (region {s.stt_amazon_region})")
        missing = "amazon_secret_access_key" if s.stt_amazon_access_key_id else "amazon_access_key_id"
        return Check(label, FAIL, f"{missing} is empty", f"set {missing} in [stt] (or WIREXA_STT_{missing.upper()})")
    if name == "azure":
        if not s.stt_azure_key:
            return Check(label, OK, "not configured")
        if s.stt_azure_region or s.stt_azure_endpoint_url:
            return Check(label, OK, f"key set (region {s.stt_azure_region or s.stt_azure_endpoint_url})")
        return Check(
            label,
            FAIL,
            "azure_key is set but azure_region is empty",
            "set azure_region in [stt] (eastus, westeurope, ...)",
        )
    if name == "deepgram":
        return Check(label, OK, "API key set" if s.stt_deepgram_api_key else "not configured")
    if name == "vosk":
        if not s.stt_vosk_model_path:
            return Check(label, OK, "not configured")
        path = Path(os.path.expanduser(s.stt_vosk_model_path))
        if not path.is_dir():
            return Check(
                label,
                FAIL,
                f"model directory {path} does not exist",
                "unpack a model from alphacephei.com/vosk/models there, or fix vosk_model_path in [stt]",
            )
        if importlib.util.find_spec("vosk") is None:
            return Check(label, FAIL, f"model {path}, but the vosk package is not installed", "pip install vosk")
        return Check(label, OK, f"model {path}")
    return _pocketsphinx_check(label)


def _pocketsphinx_check(label: str) -> Check:
    """pocketsphinx ends every chain: its package and the en-US model its wheel carries."""
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or not spec.submodule_search_locations:
        return Check(label, FAIL, "the pocketsphinx package is not installed", "pip install pocketsphinx")
    # Where pocketsphinx.get_model_path() points, found without importing it (doctor stays quick).
    model = Path(list(spec.submodule_search_locations)[0]) / "model" / "en-us"
    needed = [model / "en-us" / "mdef", model / "en-us.lm.bin", model / "cmudict-en-us.dict"]
    absent = [p for p in needed if not p.is_file()]
    if absent:
        return Check(label, FAIL, f"its en-US model is incomplete: {absent[0]} is missing", "reinstall pocketsphinx")
    return Check(label, OK, f"offline en-US model {model} (always configured: ends the chain)")


def check_disk(s: Settings) -> Check:
    path = s.data_path if s.data_path.exists() else s.data_path.parent
    while not path.exists() and path != path.parent:
        path = path.parent
    free = shutil.disk_usage(path).free
    detail = f"{free / 1024**3:.1f} GiB free on {path}"
    if free < DISK_FAIL_BYTES:
        return Check("disk space", FAIL, detail, "free some space: recordings and caches live in the data directory")
    if free < DISK_WARN_BYTES:
        return Check("disk space", WARN, detail, "recordings need room: free some space")
    return Check("disk space", OK, detail)


def check_clock(s: Settings) -> Check:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if not 2024 <= now.year < 2100:
        return Check(
            "clock", FAIL, f"system time is {now:%Y-%m-%d %H:%M} UTC", "set the clock (timedatectl set-ntp true)"
        )
    newest = _newest_row(s)
    if newest is not None and newest - now > dt.timedelta(minutes=5):
        return Check(
            "clock",
            FAIL,
            f"the database has rows from {newest:%Y-%m-%d %H:%M} UTC, after now ({now:%H:%M})",
            "the clock went back: set it right (timedatectl set-ntp true)",
        )
    sync = _ntp_synchronized()
    if sync is False:
        return Check("clock", WARN, f"{now:%Y-%m-%d %H:%M:%S} UTC, not NTP-synchronized", "timedatectl set-ntp true")
    return Check("clock", OK, f"{now:%Y-%m-%d %H:%M:%S} UTC" + (", NTP-synchronized" if sync else ""))


def _newest_row(s: Settings) -> dt.datetime | None:
    if not s.db_url.startswith("sqlite:///") or not Path(s.db_url[len("sqlite:///") :]).is_file():
        return None
    import sqlite3

    try:
        with sqlite3.connect(f"file:{s.db_url[len('sqlite:///') :]}?mode=ro", uri=True) as db:
            row = db.execute("SELECT MAX(date_created) FROM calls").fetchone()
    except sqlite3.Error:
        return None
    try:
        return dt.datetime.fromisoformat(str(row[0])) if row and row[0] else None
    except ValueError:
        return None


def _ntp_synchronized() -> bool | None:
    """adjtimex's verdict (via timedatectl when present), None when unknown."""
    tool = shutil.which("timedatectl")
    if tool is None:
        return None
    import subprocess

    try:
        out = subprocess.run(
            [tool, "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True, timeout=3
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


def engine_health(info: engine_file.EngineInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    import aiohttp

    async def go() -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
                async with session.get(f"{info.api_url}/health") as resp:
                    body: dict[str, Any] = await resp.json(content_type=None)
                    return body
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None

    return asyncio.run(go())


def run_checks(data_dir: str | None, config_file: str | None) -> list[Check]:
    first, s = check_config(data_dir, config_file)
    checks = [first]
    if s is None:
        return checks
    info = engine_file.live(s)
    health = engine_health(info)
    if info is not None:
        state = "answering /health" if health is not None else "NOT answering /health"
        checks.append(
            Check(
                "engine",
                OK if health is not None else FAIL,
                f"running, pid {info.pid}, {info.api_url} {state}",
                "" if health is not None else "look at its log (journalctl -u wirexa), restart it",
            )
        )
    else:
        checks.append(Check("engine", OK, "not running (doctor checks that it could start)"))
    checks += [
        check_data_dir(s),
        check_database(s),
        *check_ports(s, info),
        check_capacity(s, health),
        *check_trunk(s, health),
        *check_nat(s),
        *check_tools(s),
        *check_tts(s),
        *check_stt(s),
        check_disk(s),
        check_clock(s),
    ]
    return checks


STATUS_COLORS = {OK: "green", WARN: "yellow", FAIL: "red"}
COLUMNS = (Column("Check", keep=True), Column("Status", keep=True), Column("Detail"), Column("Fix"))


def screen_lines(checks: list[Check], width: int) -> list[Text]:
    """The checks as a terminal `width` columns wide shows them: a line each, `status  name
    detail`; a passing check's detail is cut to fit (--json has it whole), a warning or failure
    has its whole detail and, under it, its fix (wrapped at spaces; a path or URL never broken)."""
    names = max(len(c.name) for c in checks)
    indent = 4 + GAP + names + GAP
    out = []
    for c in checks:
        head = Text()
        head.append(c.status.ljust(4), style=STATUS_COLORS.get(c.status, ""))
        head.append(" " * GAP + c.name.ljust(names) + " " * GAP)
        if c.status == OK:
            detail = Text(visible(c.detail))
            detail.truncate(max(1, width - indent), overflow="ellipsis")
            out.append(head + detail)
            continue
        more = wrap_words(visible(c.detail), width, indent)
        if more and more[0].startswith(" " * indent):  # else a word too long for the line comes first
            head.append(more.pop(0)[indent:])
        out += [head, *(Text(line) for line in more)]
        if c.fix:
            out += [Text(line) for line in wrap_words(f"fix: {visible(c.fix)}", width, indent)]
    for line in out:
        line.rstrip()
        line.no_wrap, line.overflow = True, "ignore"
    return out


def doctor(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """Check the config, data directory, database, ports, SIP trunk, NAT addresses, espeak-ng and
    ffmpeg, TTS credentials, speech recognizers, disk and clock; exit 0 when nothing failed, 1 otherwise."""
    checks = run_checks(data_dir, config_file)
    failed = [c for c in checks if c.status == FAIL]
    if json_out:
        print_json({"ok": not failed, "checks": [dataclasses.asdict(c) for c in checks]})
    else:
        out = console()
        if out.is_terminal:
            for line in screen_lines(checks, out.width):
                out.print(line, soft_wrap=True)
        else:
            render_rows(COLUMNS, [[c.name, c.status, c.detail, c.fix] for c in checks], out=out)
        if failed:
            from rich.markup import escape

            console(stderr=True).print(
                f"[red]{len(failed)} check(s) failed:[/red] "
                + escape("; ".join(f"{c.name}: {c.fix or c.detail}" for c in failed)),
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
    raise typer.Exit(1 if failed else 0)
