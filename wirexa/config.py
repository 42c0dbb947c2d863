"""Settings: one frozen object built from defaults < TOML file < WIREXA_* env < CLI flags.

Every setting is declared once in SETTINGS (name, type, default, help). The TOML file groups
them in sections: `[sip] trunk_host = "..."` is the setting `sip_trunk_host`, and its environment
variable is `WIREXA_SIP_TRUNK_HOST`. `config/wirexa.example.toml` documents every setting (a test
keeps it complete). Nothing but `load()` reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wirexa.errors import ConfigError


class Secret(str):
    """A string whose repr is masked, for tokens and passwords."""

    def __repr__(self) -> str:
        return "Secret('****')" if self else "Secret('')"


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


# Sections are the first word of the name: sip_trunk_host lives in [sip] as trunk_host.
SECTIONS = ("api", "webhooks", "sip", "sandbox", "calls", "tts", "recordings", "log")

SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", str, "~/.local/share/wirexa", "Directory for the database, recordings and caches."),
    Setting("database_url", str, "", "Database URL; empty means sqlite:///<data_dir>/wirexa.db."),
    Setting("host", str, "127.0.0.1", "Address the REST API listens on; 0.0.0.0 = every interface (put TLS in front)."),
    Setting("port", int, 5000, "TCP port of the REST API."),
    Setting("public_url", str, "", "Base URL customers reach the API at (used in RecordingUrl); empty = http://127.0.0.1:<port>."),
    Setting("log_level", str, "INFO", "Log level: DEBUG, INFO, WARNING, ERROR."),
    Setting("api_max_body_bytes", int, 1_048_576, "Largest request body the API accepts (413 above it)."),
    Setting("api_rate_limit_per_s", float, 100.0, "Requests per second allowed per project (429 / 20429 above it); 0 = unlimited."),
    Setting("api_rate_limit_burst", int, 200, "Burst size of the per-project request rate limit."),
    Setting("webhooks_schedule_s", str, "0,60,300,900", "Delays before each delivery attempt, comma-separated seconds (attempt 1, 2, ...)."),
    Setting("webhooks_connect_timeout_s", float, 5.0, "Connect timeout of one webhook delivery."),
    Setting("webhooks_total_timeout_s", float, 15.0, "Total timeout of one webhook delivery."),
    Setting("webhooks_concurrency", int, 32, "Webhook deliveries in flight at once."),
    Setting("webhooks_poll_interval_s", float, 1.0, "How often the delivery worker looks for due rows when idle."),
    Setting("webhooks_claim_ttl_s", float, 60.0, "How long a claimed delivery stays claimed before another worker may retry it."),
    Setting("webhooks_max_response_bytes", int, 65_536, "Response bytes read from a webhook receiver before giving up on the body."),
    Setting("calls_max_concurrent", int, 64, "Calls live at once across the engine; more wait in queued."),
    Setting("calls_cps", float, 10.0, "Engine-wide call setups per second; more wait in queued."),
    Setting("calls_document_timeout_s", float, 15.0, "Timeout for fetching a call's XML document."),
    Setting("calls_max_redirects", int, 20, "Document fetches one call may chain (Redirect loops are cut here)."),
    Setting("sip_workers_max", int, 16, "Most pjsua2 media worker processes (each holds 4 calls)."),
    Setting("sip_worker_idle_s", float, 30.0, "Seconds an idle worker beyond the first lives before it is stopped."),
    Setting("sip_bind_host", str, "127.0.0.1", "Address the SIP workers bind their SIP and RTP ports to."),
    Setting("sip_port_base", int, 15060, "First SIP port of the worker pool (worker N uses base+N)."),
    Setting("sip_rtp_port_base", int, 20000, "First RTP port of the worker pool."),
    Setting("sip_trunk_host", str, "", "SIP trunk host[:port]; empty = use the built-in sandbox carrier."),
    Setting("sip_trunk_transport", str, "udp", "Trunk transport: udp, tcp or tls."),
    Setting("sip_trunk_username", str, "", "Digest username for the trunk."),
    Setting("sip_trunk_password", Secret, Secret(""), "Digest password for the trunk."),
    Setting("sip_trunk_register", bool, False, "Register with the trunk (REGISTER) instead of plain digest auth."),
    Setting("sip_trunk_from_domain", str, "", "Domain in the From header; empty = the trunk host."),
    Setting("sip_trunk_allowed_caller_ids", str, "", "Comma-separated From numbers allowed on the trunk; empty = any (21210 otherwise)."),
    Setting("sip_trunk_dial_prefix", str, "", "Prefix put in front of dialed numbers."),
    Setting("sip_trunk_strip_plus", bool, False, "Strip the leading + of E.164 numbers before dialing."),
    Setting("sip_trunk_pai", bool, False, "Send P-Asserted-Identity with the caller ID."),
    Setting("sandbox_enabled", bool, True, "Start the sandbox carrier when no trunk is configured."),
    Setting("sandbox_port_base", int, 16060, "First SIP port of the sandbox carrier's processes."),
    Setting("sandbox_processes", int, 4, "Sandbox carrier processes (each answers 4 calls at once)."),
    Setting("sandbox_config", str, "", "Path of sandbox.toml (callee behaviour); empty = config/sandbox.toml next to the config file, else built-in defaults."),
    Setting("tts_espeak_binary", str, "espeak-ng", "espeak-ng executable used for <Say>."),
    Setting("tts_timeout_s", float, 3.0, "Seconds one TTS provider may take before <Say> falls back to the next one."),
    Setting("tts_cache_max_bytes", int, 268_435_456, "Size bound of the rendered-speech cache (least recently used files go first); 0 = unbounded."),
    Setting("tts_polly_access_key_id", Secret, Secret(""), "AWS access key id for Amazon Polly; empty = Polly not configured."),
    Setting("tts_polly_secret_access_key", Secret, Secret(""), "AWS secret access key for Amazon Polly."),
    Setting("tts_polly_region", str, "us-east-1", "AWS region of Amazon Polly."),
    Setting("tts_polly_endpoint_url", str, "", "Polly endpoint URL; empty = AWS's endpoint for the region."),
    Setting("tts_polly_engine", str, "standard", "Polly engine for voices without a suffix: standard, neural, generative or long-form."),
    Setting("tts_polly_voice_woman", str, "", "Polly voice for woman/alice; empty = a built-in voice for the language (Joanna for en-US)."),
    Setting("tts_polly_voice_man", str, "", "Polly voice for man; empty = a built-in voice for the language (Matthew for en-US)."),
    Setting("tts_google_api_key", Secret, Secret(""), "Google Cloud API key for Text-to-Speech (or set service_account_file)."),
    Setting("tts_google_service_account_file", str, "", "Path of a Google service-account JSON key file, used when no API key is set."),
    Setting("tts_google_endpoint_url", str, "https://texttospeech.googleapis.com", "Google Cloud Text-to-Speech endpoint URL."),
    Setting("tts_google_voice_woman", str, "", "Google voice for woman/alice; empty = Google's female voice for the language."),
    Setting("tts_google_voice_man", str, "", "Google voice for man; empty = Google's male voice for the language."),
    Setting("tts_elevenlabs_api_key", Secret, Secret(""), "ElevenLabs API key; empty = ElevenLabs not configured."),
    Setting("tts_elevenlabs_endpoint_url", str, "https://api.elevenlabs.io", "ElevenLabs API endpoint URL."),
    Setting("tts_elevenlabs_model_id", str, "eleven_multilingual_v2", "ElevenLabs model used for synthesis."),
    Setting("tts_elevenlabs_voice_woman", str, "Rachel", "ElevenLabs voice (name or id) for woman/alice."),
    Setting("tts_elevenlabs_voice_man", str, "Adam", "ElevenLabs voice (name or id) for man."),
    Setting("tts_azure_key", Secret, Secret(""), "Azure Speech resource key; empty = Azure not configured."),
    Setting("tts_azure_region", str, "", "Azure Speech region (eastus, westeurope, ...)."),
    Setting("tts_azure_endpoint_url", str, "", "Azure Speech endpoint URL; empty = https://<region>.tts.speech.microsoft.com."),
    Setting("tts_azure_voice_woman", str, "", "Azure voice for woman/alice; empty = a built-in voice for the language (en-US-JennyNeural)."),
    Setting("tts_azure_voice_man", str, "", "Azure voice for man; empty = a built-in voice for the language (en-US-GuyNeural)."),
    Setting("tts_gtts_enabled", bool, False, "Use gTTS (Google Translate's unofficial speech endpoint, no account) before espeak."),
    Setting("tts_gtts_endpoint_url", str, "https://translate.google.com", "gTTS endpoint URL."),
    Setting("recordings_dir", str, "", "Where recordings are written; empty = <data_dir>/recordings."),
)

_BY_NAME = {s.name: s for s in SETTINGS}

Settings = dataclasses.make_dataclass(
    "Settings",
    [(s.name, s.type, dataclasses.field(default=s.default)) for s in SETTINGS]
    + [("config_file", str, dataclasses.field(default=""))],
    frozen=True,
    slots=True,
    namespace={
        "__doc__": "All of Wirexa's settings, frozen. Build with load(); see SETTINGS for help.",
        "data_path": property(lambda self: Path(os.path.expanduser(self.data_dir))),
        "db_url": property(
            lambda self: self.database_url
            or f"sqlite:///{Path(os.path.expanduser(self.data_dir)) / 'wirexa.db'}"
        ),
        "recordings_path": property(
            lambda self: Path(os.path.expanduser(self.recordings_dir))
            if self.recordings_dir
            else Path(os.path.expanduser(self.data_dir)) / "recordings"
        ),
        "base_url": property(
            lambda self: (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")
        ),
        "webhook_schedule": property(lambda self: parse_schedule(self.webhooks_schedule_s)),
    },
)


def parse_schedule(text: str) -> tuple[float, ...]:
    """'0,60,300' -> (0.0, 60.0, 300.0); ConfigError on anything else."""
    try:
        values = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise ConfigError(f"webhooks.schedule_s: not a list of seconds: {text!r}") from exc
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"webhooks.schedule_s: needs one or more non-negative delays: {text!r}")
    return values


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    t = setting.type
    try:
        if t is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if t is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if t is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if t is Secret:
            return Secret(str(value))
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{origin}: {setting.name} must be {t.__name__}, got {value!r}"
        ) from exc


def _flatten_toml(doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(f"{path}: unknown section [{key}]")
            for sub, subval in value.items():
                flat[f"{key}_{sub}"] = subval
        else:
            flat[key] = value
    for name in flat:
        if name not in _BY_NAME:
            raise ConfigError(f"{path}: unknown setting {name!r}")
    return flat


def default_config_path(data_dir: str) -> Path:
    return Path(os.path.expanduser(data_dir)) / "wirexa.toml"


def load(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """Build Settings: defaults < TOML file < WIREXA_* env < overrides (CLI flags).

    `config_file` None means: WIREXA_CONFIG, else <data_dir>/wirexa.toml if it exists.
    `overrides` values of None are ignored (an unset CLI flag). Raises ConfigError.
    """
    env = os.environ if env is None else env
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for name in overrides:
        if name not in _BY_NAME:
            raise ConfigError(f"unknown setting {name!r}")
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}

    # The data dir decides where the default config file is, so resolve it first.
    data_dir = overrides.get("data_dir") or env.get("WIREXA_DATA_DIR") or values["data_dir"]
    path: Path | None
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
    elif env.get("WIREXA_CONFIG"):
        path = Path(env["WIREXA_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (WIREXA_CONFIG)")
    else:
        candidate = default_config_path(str(data_dir))
        path = candidate if candidate.is_file() else None

    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        for name, value in _flatten_toml(doc, str(path)).items():
            values[name] = _coerce(_BY_NAME[name], value, str(path))

    for s in SETTINGS:
        key = "WIREXA_" + s.name.upper()
        if key in env:
            values[s.name] = _coerce(s, env[key], key)

    for name, value in overrides.items():
        values[name] = _coerce(_BY_NAME[name], value, "--" + name.replace("_", "-"))

    settings = Settings(**values, config_file=str(path) if path else "")
    parse_schedule(settings.webhooks_schedule_s)  # validate early
    return settings


def example_toml() -> str:
    """The documented example config: every setting, commented, in its section."""
    lines = [
        "# Wirexa configuration. Every setting is shown with its default.",
        "# Precedence: defaults < this file < WIREXA_* environment < command-line flags.",
        "",
    ]

    def fmt(s: Setting) -> str:
        if s.type is bool:
            return "true" if s.default else "false"
        if s.type in (int, float):
            return repr(s.default)
        return '"' + str(s.default).replace("\\", "\\\\").replace('"', '\\"') + '"'

    top = [s for s in SETTINGS if s.name.split("_", 1)[0] not in SECTIONS]
    for s in top:
        lines += [f"# {s.help} (env WIREXA_{s.name.upper()})", f"{s.name} = {fmt(s)}", ""]
    for section in SECTIONS:
        members = [s for s in SETTINGS if s.name.split("_", 1)[0] == section]
        if not members:
            continue
        lines += [f"[{section}]"]
        for s in members:
            key = s.name.split("_", 1)[1]
            lines += [f"# {s.help} (env WIREXA_{s.name.upper()})", f"{key} = {fmt(s)}", ""]
    return "\n".join(lines).rstrip() + "\n"
