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


# pjmedia's jitter buffer discard algorithms (pjmedia_jb_discard_algo), by [sip] jitter_discard's name.
JITTER_DISCARDS = ("static", "progressive", "none")

# Sections are the first word of the name: sip_trunk_host lives in [sip] as trunk_host.
SECTIONS = (
    "api", "webhooks", "sip", "sandbox", "calls", "tts", "stt", "recordings", "store", "cluster", "console", "log"
)  # fmt: skip


def _setting(default: Any, text: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": text})


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """All of Wirexa's settings, frozen: one line each (name, type, default, help), which SETTINGS
    and config/wirexa.example.toml are derived from. Build with load()."""

    data_dir: str = _setting("~/.local/share/wirexa", "Directory for the database, recordings and caches.")
    database_url: str = _setting(
        "",
        "Database URL: sqlite:///path or postgresql://user:password@host:5432/db; empty = sqlite:///<data_dir>/wirexa.db.",
    )
    host: str = _setting("127.0.0.1", "Address the REST API listens on; 0.0.0.0 = every interface (put TLS in front).")
    port: int = _setting(5000, "TCP port of the REST API.")
    public_url: str = _setting(
        "", "Base URL customers reach the API at (used in RecordingUrl); empty = http://127.0.0.1:<port>."
    )
    log_level: str = _setting("INFO", "Log level: DEBUG, INFO, WARNING, ERROR.")
    shutdown_grace_s: float = _setting(
        30.0, "On SIGTERM, seconds live calls may go on (no new ones start) before they are hung up."
    )
    api_max_body_bytes: int = _setting(1_048_576, "Largest request body the API accepts (413 above it).")
    api_rate_limit_per_s: float = _setting(
        100.0, "Requests per second allowed per project (429 / 20429 above it); 0 = unlimited."
    )
    api_rate_limit_burst: int = _setting(200, "Burst size of the per-project request rate limit.")
    api_auth_failures_free: int = _setting(
        5, "Failed logins (401) one client address may make in auth_failure_window_s before its 401s come slower."
    )
    api_auth_failures_block: int = _setting(
        30,
        "Failed logins after which the address's failing requests get 429 / 20429 until the window passes "
        "(a valid token is still served); 0 = never.",
    )
    api_auth_failure_window_s: float = _setting(600.0, "Seconds a failed login counts against its client address.")
    webhooks_schedule_s: str = _setting(
        "0,60,300,900", "Delays before each delivery attempt, comma-separated seconds (attempt 1, 2, ...)."
    )
    webhooks_connect_timeout_s: float = _setting(5.0, "Connect timeout of one webhook delivery.")
    webhooks_total_timeout_s: float = _setting(15.0, "Total timeout of one webhook delivery.")
    webhooks_concurrency: int = _setting(32, "Webhook deliveries in flight at once.")
    webhooks_poll_interval_s: float = _setting(1.0, "How often the delivery worker looks for due rows when idle.")
    webhooks_claim_ttl_s: float = _setting(
        60.0, "How long a claimed delivery stays claimed before another worker may retry it."
    )
    webhooks_max_response_bytes: int = _setting(
        65_536, "Response bytes read from a webhook receiver before giving up on the body."
    )
    calls_max_concurrent: int = _setting(
        0, "Calls live at once across the engine; more wait in queued. 0 = sized from this machine (wirexa doctor)."
    )
    calls_cps: float = _setting(10.0, "Engine-wide call setups per second; more wait in queued.")
    calls_hold: bool = _setting(
        False, "Accept and queue new calls but place none (maintenance; `wirexa calls stop` refuses them instead)."
    )
    calls_document_timeout_s: float = _setting(15.0, "Timeout for fetching a call's XML document.")
    calls_max_redirects: int = _setting(20, "Document fetches one call may chain (Redirect loops are cut here).")
    calls_allowed_countries: str = _setting(
        "",
        "Destinations calls may dial: E.164 country codes or longer prefixes, comma-separated (1 = US/Canada without the Caribbean, 1876 = Jamaica, * = anywhere); empty = sip.trunk_country_code only. Others get 21215.",
    )
    calls_daily_minutes: int = _setting(
        0, "Call-minutes a project may use per UTC day, <Dial> legs included (402 / 20005 beyond); 0 = unlimited."
    )
    sip_workers_max: int = _setting(
        0, "Most pjsua2 media worker processes (each holds 4 calls); 0 = sized from this machine (wirexa doctor)."
    )
    sip_workers_min: int = _setting(
        1,
        "Worker processes started with the engine and never stopped while idle (each holds 4 calls;"
        " a start takes ~0.3 s): an inbound trunk that can bring a burst of calls at once needs"
        " room for a burst's first seconds warm, e.g. 16 for 50 short calls a second.",
    )
    sip_worker_idle_s: float = _setting(
        30.0, "Seconds an idle worker beyond sip.workers_min lives before it is stopped."
    )
    sip_jitter_discard: str = _setting(
        "static",
        "How every call's jitter buffer drops received audio to keep its delay down: static (only when the"
        " buffer has grown past twice its burst level: it kept every frame of 50 echoed Media Streams on 2"
        " cores), progressive (pjsua's own default: a frame whenever the buffer sits above its burst level;"
        " it lost about 1 in 1,000 there) or none (never: the delay a stall adds stays until the call ends).",
    )
    sip_bind_host: str = _setting("127.0.0.1", "Address the SIP workers bind their SIP and RTP ports to.")
    sip_port_base: int = _setting(15060, "First SIP port of the worker pool (worker N uses base+N).")
    sip_rtp_port_base: int = _setting(20000, "First RTP port of the worker pool.")
    sip_trunk_host: str = _setting("", "SIP trunk host[:port]; empty = use the built-in sandbox carrier.")
    sip_trunk_transport: str = _setting("udp", "Trunk transport: udp, tcp or tls.")
    sip_trunk_username: str = _setting("", "Digest username for the trunk.")
    sip_trunk_password: Secret = _setting(Secret(""), "Digest password for the trunk.")
    sip_trunk_register: bool = _setting(False, "Register with the trunk (REGISTER) instead of plain digest auth.")
    sip_trunk_from_domain: str = _setting("", "Domain in the From header; empty = the trunk host.")
    sip_trunk_allowed_caller_ids: str = _setting(
        "", "Comma-separated From numbers allowed on the trunk; empty = any (21210 otherwise)."
    )
    sip_trunk_dial_prefix: str = _setting("", "Prefix put in front of dialed numbers.")
    sip_trunk_strip_plus: bool = _setting(False, "Strip the leading + of E.164 numbers before dialing.")
    sip_trunk_pai: bool = _setting(False, "Send P-Asserted-Identity with the caller ID.")
    sip_outbound_proxy: str = _setting(
        "",
        "SIP proxy the workers send every outbound request through (calls to the trunk, <Dial> SIP URIs, REGISTER;"
        " a Route header, loose routing), e.g. the Kamailio in front of several engines: sip:10.0.0.5:5060 (;lr is"
        " added); needs trunk_host. Empty = straight to the trunk.",
    )
    sip_inbound_port: int = _setting(
        5060,
        "Port the engine takes the carrier's INVITEs and the desk phones' REGISTERs on (UDP and TCP, on bind_host); 0 = no inbound calls.",
    )
    sip_inbound_tls_port: int = _setting(
        5061, "TLS port for inbound SIP, used when inbound_tls_cert and inbound_tls_key are set."
    )
    sip_inbound_tls_cert: str = _setting("", "PEM certificate (chain) for inbound SIP over TLS; empty = no TLS.")
    sip_inbound_tls_key: str = _setting("", "PEM private key of inbound_tls_cert.")
    sip_inbound_allowed: str = _setting(
        "",
        "Comma-separated CIDRs whose INVITEs are taken as the carrier's; empty = the trunk host's resolved addresses. Phones and the sandbox caller get in by their credentials; everyone else gets 403.",
    )
    sip_inbound_number_from: str = _setting(
        "request-uri", "Where the called number of an inbound INVITE is read: request-uri (its user part) or to."
    )
    sip_inbound_username: str = _setting(
        "",
        "Digest username the carrier must answer a challenge with (optional); empty = no digest auth for the carrier.",
    )
    sip_inbound_password: Secret = _setting(Secret(""), "Digest password for inbound_username.")
    sip_domain: str = _setting(
        "wirexa", "SIP domain of the desk phones (sip:alice@<domain>) and the digest realm of the inbound port."
    )
    sip_phones_voice_url: str = _setting(
        "", "URL of the TwiML run for calls made from registered desk phones (Twilio's SIP Domain VoiceUrl)."
    )
    sip_phones_voice_method: str = _setting("POST", "HTTP method of phones_voice_url: GET or POST.")
    sip_registration_max_s: int = _setting(
        3600, "Longest registration (Expires) a desk phone is granted; longer asks are cut to this."
    )
    sip_public_address: str = _setting(
        "",
        "Public address of a box behind NAT: put in Contact and Via of SIP messages (and in SDP when public_rtp_address is empty); empty = bind_host.",
    )
    sip_public_rtp_address: str = _setting(
        "", "Public address put in the SDP c= line behind NAT; empty = public_address, else bind_host."
    )
    sip_trunk_country_code: str = _setting(
        "1",
        "E.164 country calling code of the trunk's home country (1 = US/Canada, 44 = UK ...): the default dialing permission.",
    )
    sandbox_enabled: bool = _setting(True, "Start the sandbox carrier when no trunk is configured.")
    sandbox_port_base: int = _setting(16060, "First SIP port of the sandbox carrier's processes.")
    sandbox_processes: int = _setting(4, "Sandbox carrier processes (each answers 4 calls at once).")
    sandbox_config: str = _setting(
        "",
        "Path of sandbox.toml (callee behaviour); empty = sandbox.toml next to the config file (wirexa init writes one, all commented out), else built-in defaults.",
    )
    tts_espeak_binary: str = _setting("espeak-ng", "espeak-ng executable used for <Say>.")
    tts_timeout_s: float = _setting(3.0, "Seconds one TTS provider may take before <Say> falls back to the next one.")
    tts_stream: bool = _setting(
        True,
        "Play the audio of providers that stream (Polly, ElevenLabs, Azure) as it arrives; the first chunk must come"
        " within tts_timeout_s, and each next one within tts_timeout_s of the previous.",
    )
    tts_cache_max_bytes: int = _setting(
        268_435_456, "Size bound of the rendered-speech cache (least recently used files go first); 0 = unbounded."
    )
    tts_polly_access_key_id: Secret = _setting(
        Secret(""), "AWS access key id for Amazon Polly; empty = Polly not configured."
    )
    tts_polly_secret_access_key: Secret = _setting(Secret(""), "AWS secret access key for Amazon Polly.")
    tts_polly_region: str = _setting("us-east-1", "AWS region of Amazon Polly.")
    tts_polly_endpoint_url: str = _setting("", "Polly endpoint URL; empty = AWS's endpoint for the region.")
    tts_polly_engine: str = _setting(
        "standard", "Polly engine for voices without a suffix: standard, neural, generative or long-form."
    )
    tts_polly_voice_woman: str = _setting(
        "", "Polly voice for woman/alice; empty = a built-in voice for the language (Joanna for en-US)."
    )
    tts_polly_voice_man: str = _setting(
        "", "Polly voice for man; empty = a built-in voice for the language (Matthew for en-US)."
    )
    tts_google_api_key: Secret = _setting(
        Secret(""), "Google Cloud API key for Text-to-Speech (or set service_account_file)."
    )
    tts_google_service_account_file: str = _setting(
        "", "Path of a Google service-account JSON key file, used when no API key is set."
    )
    tts_google_endpoint_url: str = _setting(
        "https://texttospeech.googleapis.com", "Google Cloud Text-to-Speech endpoint URL."
    )
    tts_google_voice_woman: str = _setting(
        "", "Google voice for woman/alice; empty = Google's female voice for the language."
    )
    tts_google_voice_man: str = _setting("", "Google voice for man; empty = Google's male voice for the language.")
    tts_elevenlabs_api_key: Secret = _setting(Secret(""), "ElevenLabs API key; empty = ElevenLabs not configured.")
    tts_elevenlabs_endpoint_url: str = _setting("https://api.elevenlabs.io", "ElevenLabs API endpoint URL.")
    tts_elevenlabs_model_id: str = _setting("eleven_multilingual_v2", "ElevenLabs model used for synthesis.")
    tts_elevenlabs_voice_woman: str = _setting("Rachel", "ElevenLabs voice (name or id) for woman/alice.")
    tts_elevenlabs_voice_man: str = _setting("Adam", "ElevenLabs voice (name or id) for man.")
    tts_azure_key: Secret = _setting(Secret(""), "Azure Speech resource key; empty = Azure not configured.")
    tts_azure_region: str = _setting("", "Azure Speech region (eastus, westeurope, ...).")
    tts_azure_endpoint_url: str = _setting(
        "", "Azure Speech endpoint URL; empty = https://<region>.tts.speech.microsoft.com."
    )
    tts_azure_voice_woman: str = _setting(
        "", "Azure voice for woman/alice; empty = a built-in voice for the language (en-US-JennyNeural)."
    )
    tts_azure_voice_man: str = _setting(
        "", "Azure voice for man; empty = a built-in voice for the language (en-US-GuyNeural)."
    )
    tts_gtts_enabled: bool = _setting(
        False, "Use gTTS (Google Translate's unofficial speech endpoint, no account) before espeak."
    )
    tts_gtts_endpoint_url: str = _setting("https://translate.google.com", "gTTS endpoint URL.")
    stt_providers: str = _setting(
        "google,amazon,azure,deepgram,vosk,pocketsphinx",
        'Speech recognizers tried in this order for <Gather input="speech"> and transcriptions; unconfigured ones are skipped, pocketsphinx (offline, en-US) ends the chain.',
    )
    stt_timeout_s: float = _setting(
        3.0,
        "Seconds a speech recognizer may take to connect, and to give its result after the end of speech, before the next one is tried.",
    )
    stt_google_api_key: Secret = _setting(
        Secret(""), "Google Cloud API key for Speech-to-Text; empty = Google not configured."
    )
    stt_google_endpoint_url: str = _setting(
        "speech.googleapis.com:443",
        "Google Speech-to-Text gRPC endpoint (host:port; http:// for a plaintext test server).",
    )
    stt_amazon_access_key_id: Secret = _setting(
        Secret(""), "AWS access key id for Amazon Transcribe streaming; empty = Amazon not configured."
    )
    stt_amazon_secret_access_key: Secret = _setting(Secret(""), "AWS secret access key for Amazon Transcribe.")
    stt_amazon_region: str = _setting("us-east-1", "AWS region of Amazon Transcribe.")
    stt_amazon_endpoint_url: str = _setting(
        "",
        "Amazon Transcribe streaming WebSocket endpoint; empty = wss://transcribestreaming.<region>.amazonaws.com:8443.",
    )
    stt_azure_key: Secret = _setting(Secret(""), "Azure Speech resource key; empty = Azure not configured.")
    stt_azure_region: str = _setting("", "Azure Speech region (eastus, westeurope, ...).")
    stt_azure_endpoint_url: str = _setting(
        "", "Azure speech-to-text endpoint URL; empty = https://<region>.stt.speech.microsoft.com."
    )
    stt_deepgram_api_key: Secret = _setting(Secret(""), "Deepgram API key; empty = Deepgram not configured.")
    stt_deepgram_endpoint_url: str = _setting("wss://api.deepgram.com", "Deepgram streaming endpoint URL.")
    stt_vosk_model_path: str = _setting(
        "", "Directory of a Vosk model (offline, any language Vosk has); empty = Vosk not configured."
    )
    recordings_dir: str = _setting("", "Where recordings are written; empty = <data_dir>/recordings.")
    recordings_media_auth: bool = _setting(
        False,
        "Require Basic auth (the project's credentials) for recording media; false = the recording SID is the secret, as on Twilio.",
    )
    recordings_retention_days: float = _setting(
        0.0,
        "Delete recordings (rows and files, local and remote) older than this many days, in the background; 0 = keep forever.",
    )
    recordings_s3_bucket: str = _setting("", "S3 bucket finished recordings are uploaded to; empty = local disk only.")
    recordings_s3_prefix: str = _setting(
        "recordings/", "Key prefix in the bucket; files go to <prefix><AccountSid>/<RecordingSid>.wav|.mp3."
    )
    recordings_s3_region: str = _setting("", "Region of the bucket; empty = the AWS configuration's default.")
    recordings_s3_endpoint_url: str = _setting(
        "", "S3 endpoint URL for MinIO, Ceph, Wasabi...; empty = AWS. Credentials come from the standard AWS chain."
    )
    recordings_s3_keep_local: bool = _setting(
        True, "Keep the local copies after the upload; false = remove them once the bucket has them."
    )
    recordings_s3_serve: str = _setting(
        "proxy",
        "How media held only in the bucket is served: proxy (streamed through the engine, same auth and Range) or redirect (302 to a presigned URL).",
    )
    recordings_s3_url_expiry_s: int = _setting(300, "Lifetime of the presigned URLs of recordings_s3_serve = redirect.")
    store_call_events_days: float = _setting(
        7.0, "Days a call's Events (the requests it made and their responses) are kept; 0 = keep forever."
    )
    cluster_node_id: str = _setting(
        "", "This engine's name among the engines sharing one database; empty = the host's name. Unique per engine."
    )
    cluster_node_timeout_s: float = _setting(
        15.0, "An engine whose heartbeat is older than this is dead: another one finalizes its live calls."
    )
    cluster_heartbeat_s: float = _setting(2.0, "How often an engine writes its heartbeat (and looks for dead ones).")
    cluster_http_url: str = _setting(
        "",
        "Where the other engines reach this one's API (a call's update forwarded to its engine); empty = http://<host name>:<port> (http://127.0.0.1:<port> when the API listens on loopback only).",
    )
    cluster_sip_uri: str = _setting(
        "",
        "This engine's inbound SIP address in Kamailio's dispatcher list; empty = sip:<sip public_address or bind_host (the host name for 0.0.0.0)>:<sip inbound_port>.",
    )
    console_enabled: bool = _setting(
        True, "Serve the web console at /console/ on the API's port (log in with a project's SID and Auth Token)."
    )
    console_session_hours: float = _setting(
        12.0, "Hours a web console login lasts without use before it has to log in again."
    )
    config_file: str = ""  # the file load() read, "" for none (not a setting)

    @property
    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.data_dir))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'wirexa.db'}"

    @property
    def recordings_path(self) -> Path:
        return Path(os.path.expanduser(self.recordings_dir)) if self.recordings_dir else self.data_path / "recordings"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def webhook_schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.webhooks_schedule_s)


_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "Secret": Secret}
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, _TYPES[str(f.type)], f.default, f.metadata["help"])
    for f in dataclasses.fields(Settings)
    if "help" in f.metadata
)

_BY_NAME = {s.name: s for s in SETTINGS}


def parse_schedule(text: str) -> tuple[float, ...]:
    """'0,60,300' -> (0.0, 60.0, 300.0); ConfigError on anything else."""
    try:
        values = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise ConfigError(f"webhooks.schedule_s: not a list of seconds: {text!r}") from exc
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"webhooks.schedule_s: needs one or more non-negative delays: {text!r}")
    return values


def check_prefixes(name: str, text: str) -> None:
    """ConfigError unless `text` is comma-separated E.164 prefixes (digits, no leading 0) or '*'."""
    for item in (p.strip().lstrip("+") for p in text.split(",")):
        if item and item != "*" and not (item.isdigit() and item[0] != "0" and len(item) <= 15):
            raise ConfigError(f"{name}: not an E.164 country code or prefix: {item!r}")


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
        raise ConfigError(f"{origin}: {setting.name} must be {t.__name__}, got {value!r}") from exc


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
) -> Settings:
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

    if not values["sip_workers_max"] or not values["calls_max_concurrent"]:
        sandbox = values["sandbox_enabled"] and not values["sip_trunk_host"]
        sized = machine_sizing(values["sip_port_base"], values["sip_rtp_port_base"], sandbox)
        values["sip_workers_max"] = values["sip_workers_max"] or sized.workers_max
        values["calls_max_concurrent"] = values["calls_max_concurrent"] or sized.calls_max
    if not 1 <= values["sip_workers_min"] <= values["sip_workers_max"]:
        raise ConfigError(
            f"sip.workers_min must be 1 to sip.workers_max ({values['sip_workers_max']}), got {values['sip_workers_min']}"
        )
    settings = Settings(**values, config_file=str(path) if path else "")
    parse_schedule(settings.webhooks_schedule_s)  # validate early
    check_prefixes("calls.allowed_countries", settings.calls_allowed_countries)
    check_prefixes("sip.trunk_country_code", settings.sip_trunk_country_code)
    check_choice("sip.jitter_discard", settings.sip_jitter_discard, JITTER_DISCARDS)
    check_choice("sip.inbound_number_from", settings.sip_inbound_number_from, ("request-uri", "to"))
    check_choice("sip.phones_voice_method", settings.sip_phones_voice_method.upper(), ("GET", "POST"))
    check_cidrs("sip.inbound_allowed", settings.sip_inbound_allowed)
    check_proxy("sip.outbound_proxy", settings.sip_outbound_proxy)
    if settings.sip_outbound_proxy.strip() and not settings.sip_trunk_host.strip():
        raise ConfigError("sip.outbound_proxy needs sip.trunk_host (the sandbox carrier is reached directly)")
    return settings


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_cidrs(name: str, value: str) -> None:
    """A comma-separated list of addresses or networks (CIDR)."""
    import ipaddress

    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an address or a network (CIDR)") from None


def check_proxy(name: str, value: str) -> None:
    """A SIP URI with no user part (sip:host[:port][;params]) or a bare host[:port], or empty."""
    rest = value.strip().removeprefix("sips:").removeprefix("sip:")
    host = rest.split(";", 1)[0]
    if value.strip() and (not host or "@" in host or any(c.isspace() or c in '<>"' for c in value.strip())):
        raise ConfigError(f"{name} must be a SIP URI such as sip:10.0.0.5:5060 (no user part), got {value!r}")


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


# --- sizing the engine from the machine (sip_workers_max / calls_max_concurrent = 0) -------------

MACHINE_SIZED = ("sip_workers_max", "calls_max_concurrent")  # 0 = load() sizes them from the machine
CALLS_PER_WORKER = 4  # the pjsua2 wheel's limit (sip/pool.py)
CALLS_PER_CORE = 250  # ~0.2-0.3% of a core per call (bench/sip_bench.py), leaving a quarter idle
WORKER_MEMORY_MB = 40  # a worker's RSS with 4 calls is ~30 MB; half the available memory is used
ENGINE_FDS_PER_CALL = 16  # engine side: worker pipes, webhook and document sockets, files
ENGINE_FDS_RESERVED = 512
RTP_PORTS_PER_WORKER = 100  # sip/pool.py: worker N's RTP block starts at rtp_base + 100 N


@dataclasses.dataclass(frozen=True, slots=True)
class Sizing:
    """What this machine can hold, and what limits it (`limit` names the smallest ceiling)."""

    workers_max: int
    calls_max: int
    limit: str
    cores: int
    memory_available_mb: int
    open_files_limit: int
    by: dict[str, int]  # calls each resource allows


SANDBOX_RTP_OFFSET = 5000  # sip/sandbox_carrier.py: the sandbox's RTP ports start at rtp_base + 5000


def machine_sizing(sip_port_base: int, rtp_port_base: int, sandbox: bool = False) -> Sizing:
    """Size the worker pool and the engine-wide call limit from the cores, the available memory,
    the open-file limit and the port range (RTP blocks up to 65535, or up to the sandbox
    carrier's when it runs; SIP ports below the RTP range). The calls limit leaves one slot
    free for a <Dial> leg."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    memory_mb = _available_memory_mb()
    try:
        import resource

        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        nofile = 1024
    if nofile < 0:  # RLIM_INFINITY
        nofile = 1 << 20
    rtp_top = rtp_port_base + SANDBOX_RTP_OFFSET if sandbox else 65536
    rtp_workers = max(1, (rtp_top - rtp_port_base) // RTP_PORTS_PER_WORKER)
    top = rtp_port_base if sip_port_base < rtp_port_base else 65536
    sip_workers = max(1, top - sip_port_base)
    by = {
        "cpu": cores * CALLS_PER_CORE,
        "memory": max(1, memory_mb // 2 // WORKER_MEMORY_MB) * CALLS_PER_WORKER,
        "open_files": max(CALLS_PER_WORKER, (nofile - ENGINE_FDS_RESERVED) // ENGINE_FDS_PER_CALL),
        "ports": min(rtp_workers, sip_workers) * CALLS_PER_WORKER,
    }
    limit = min(by, key=lambda k: by[k])
    slots = by[limit]
    workers = max(1, -(-slots // CALLS_PER_WORKER))
    return Sizing(workers, max(1, slots - 1), limit, cores, memory_mb, nofile, by)


def _available_memory_mb() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20))
    except (OSError, ValueError, AttributeError):
        return 1024
