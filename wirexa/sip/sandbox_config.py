"""The sandbox carrier's callees, as configured: built-in defaults, sandbox.toml loading and checks.

No pjsua2 here: the sandbox program (wirexa/sip/sandbox.py), the engine (sandbox_config_path) and
`wirexa sandbox callees` all read the callees through this module, so they agree on them.

The built-in callees (DEFAULT_BEHAVIOUR, DEFAULT_NUMBERS) are also written out, commented, as the
sandbox.toml `wirexa init` puts beside wirexa.toml (commented_toml), so the two cannot disagree.

A callee's `answer` is a keyword (ANSWERS) or the path of an audio file played on answer (a
relative path is taken from the sandbox.toml's folder). The file is played once, then the callee
is silent, unless `loop = true`. A file that is missing is refused here, naming it; the sandbox
program converts a file that is not 8 kHz mono 16-bit PCM with ffmpeg when it loads the config.

The top-level `[network]` table makes the carrier's network lossy: `loss_pct` percent of the RTP
packets its callees send are dropped (pjsua2's MediaConfig.txDropPct, for every call of the carrier's
processes), so a call's quality samples show loss (media/quality.py). It is set when the carrier
starts; a reload that changes it is refused (the engine's restart applies it).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from wirexa.config import Settings

DEFAULT_BEHAVIOUR: dict[str, Any] = {
    "answer": "human",
    "ring_s": 1.0,
    "greeting": "Hello?",
    "reply": "Hi, this is Sam. Sorry I missed you. Please call me back. Bye.",
    "reply_after": "prompt",
    "reply_delay_s": 0.3,
    "reply_max": 3,
    "press": "",
    "press_after": "prompt",
    "press_delay_s": 2.0,
    "hangup_after_s": 0.0,
    "loop": False,
}

# What each setting means: the header of the sandbox.toml that `wirexa init` writes (commented_toml).
SETTING_HELP: dict[str, str] = {
    "answer": "human | machine | silence | busy (486) | decline (603) | fail (503) | ring (rings forever) |"
    " a path to a WAV file played on answer (relative to this file's folder; not 8 kHz mono 16-bit PCM:"
    " converted by ffmpeg at load)",
    "ring_s": "seconds of ringing before an answering callee picks up",
    "greeting": 'what a "human" callee says on answer (espeak-ng)',
    "reply": 'what a "human" callee says when the caller\'s prompt ends (a <Say>, the beep of a <Record>:'
    ' it leaves this message), then it listens ("" = never replies); espeak-ng speaks the text, or a'
    " path ending in .wav (relative to this file's folder) is played as it is (a recorded utterance;"
    " converted by ffmpeg at load when not 8 kHz mono 16-bit PCM)",
    "reply_after": '"prompt" = after each prompt of the caller ends, or seconds after answering (once)',
    "reply_delay_s": 'with reply_after = "prompt": seconds after the prompt ended',
    "reply_max": "replies per call at most; then the person only listens",
    "press": 'digits the callee presses ("" = none)',
    "press_after": '"prompt" = after the caller\'s first prompt ends, or seconds after answering',
    "press_delay_s": 'with press_after = "prompt": seconds after the prompt ended',
    "hangup_after_s": "the callee hangs up this long after answering (0 = never)",
    "loop": "with a WAV answer: true = play it again and again, false = once, then silence",
}

DEFAULT_NUMBERS: dict[str, dict[str, Any]] = {
    "+15005550001": {"answer": "busy"},
    "+15005550002": {"answer": "ring"},
    "+15005550003": {"answer": "fail"},
    "+15005550004": {"answer": "decline"},
    "+15005550005": {"answer": "machine"},  # ~10 s greeting, a 1 kHz beep, then silence
}

FINAL_CODES = {"busy": 486, "decline": 603, "fail": 503}
ANSWERS = ("human", "machine", "silence", "ring", *FINAL_CODES)


class SandboxConfigError(ValueError):
    """A sandbox.toml that cannot be used; the message names the file (and the callee)."""


def sandbox_config_file(settings: Settings) -> Path:
    """Where the callees are read from, whether the file exists or not: the `[sandbox] config`
    setting, else sandbox.toml beside the config file (<data_dir>/wirexa.toml unless --config or
    WIREXA_CONFIG names another; <data_dir> when there is no config file at all)."""
    if settings.sandbox_config:
        return Path(settings.sandbox_config)
    folder = Path(settings.config_file).parent if settings.config_file else settings.data_path
    return folder / "sandbox.toml"


def sandbox_config_path(settings: Settings) -> str:
    """The file to load_config(): the `[sandbox] config` setting (a missing one is an error there),
    else sandbox.toml beside the config file if it exists, else "" (the built-in callees)."""
    if settings.sandbox_config:
        return str(settings.sandbox_config)
    candidate = sandbox_config_file(settings)
    return str(candidate) if candidate.is_file() else ""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def commented_toml() -> str:
    """The sandbox.toml `wirexa init` writes (and config/sandbox.toml): every setting and number
    of the built-in callees, commented out, so the file changes nothing until a line is uncommented.
    Made from DEFAULT_BEHAVIOUR, DEFAULT_NUMBERS and SETTING_HELP, so it cannot drift from them."""
    width = max(len(k) for k in SETTING_HELP) + 2
    lines = [
        "# The sandbox carrier's callees: how each number answers when no SIP trunk is configured.",
        '# The engine reads this file from beside its wirexa.toml (or from [sandbox] config = "/path").',
        "# Every line is commented out: the callees are the built-in ones. Uncomment what you change;",
        "# `wirexa sandbox callees` shows the result, SIGHUP (systemctl reload) applies it to new calls.",
        "#",
    ]
    for key, text in SETTING_HELP.items():
        words = text.split()
        row = f"# {key + ':':<{width}}"
        for word in words:
            if len(row) + 1 + len(word) > 100 and not row.endswith(" " * width):
                lines.append(row.rstrip())
                row = "# " + " " * width
            row += word + " "
        lines.append(row.rstrip())
    lines += ["", "# [default]          # every number not listed below: a person"]
    lines += [f"# {key} = {_toml_value(value)}" for key, value in DEFAULT_BEHAVIOUR.items()]
    for number, overrides in DEFAULT_NUMBERS.items():
        lines += ["", f'# [numbers."{number}"]']
        lines += [f"# {key} = {_toml_value(value)}" for key, value in overrides.items()]
    lines += [
        "",
        "# [network]          # the carrier's network: percent of its callees' RTP packets dropped (0-99),",
        "# loss_pct = 0       # set at the engine's start; a call to any callee shows the loss",
    ]
    lines += [
        "",
        "# Example: a caller who presses 1 two seconds after your first prompt and hangs up after 20 s.",
        '# [numbers."+15005550010"]',
        '# press = "1"',
        "# hangup_after_s = 20",
        "#",
        "# Example: a recorded voicemail greeting, played once.",
        '# [numbers."+15005550020"]',
        '# answer = "voicemail.wav"',
    ]
    return "\n".join(lines) + "\n"


NETWORK_DEFAULTS: dict[str, Any] = {"loss_pct": 0}
TOP_LEVEL = ("default", "numbers", "network")


def network_settings(path: str) -> dict[str, Any]:
    """The `[network]` table of a sandbox.toml with its defaults ({"loss_pct": 0} for "");
    a SandboxConfigError naming the file for an unknown key or a loss that is no whole percent 0..99."""
    network = dict(NETWORK_DEFAULTS)
    if not path:
        return network
    table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("network", {})
    if not isinstance(table, dict):
        raise SandboxConfigError(f"sandbox config {path}: [network] is not a table")
    unknown = sorted(set(table) - set(NETWORK_DEFAULTS))
    if unknown:
        raise SandboxConfigError(f"sandbox config {path}: [network] has unknown setting(s) {', '.join(unknown)}")
    loss = table.get("loss_pct", 0)
    if isinstance(loss, bool) or not isinstance(loss, int) or not 0 <= loss <= 99:
        raise SandboxConfigError(f"sandbox config {path}: [network] loss_pct must be a whole percent from 0 to 99")
    network["loss_pct"] = loss
    return network


def is_file_answer(answer: object) -> bool:
    return str(answer) not in ANSWERS


def load_config(path: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(default behaviour, per-number overrides) from a sandbox.toml; built-ins when path is ''.
    A file answer comes back as an absolute path to a file that exists; anything unusable is a
    SandboxConfigError naming the file."""
    default = dict(DEFAULT_BEHAVIOUR)
    numbers = {k: dict(v) for k, v in DEFAULT_NUMBERS.items()}
    if not path:
        return default, numbers
    # A TOML syntax error propagates as it is (TOMLDecodeError: the line and column).
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    strays = sorted(set(doc) - set(TOP_LEVEL))
    if strays:
        raise SandboxConfigError(
            f"sandbox config {path}: unknown top-level key(s) {', '.join(strays)} (only {', '.join(TOP_LEVEL)})"
        )
    network_settings(path)  # checked with the rest
    tables: list[tuple[str, Any]] = [("default", doc.get("default", {}))]
    tables += [(f'numbers."{n}"', o) for n, o in dict(doc.get("numbers", {})).items()]
    for where, table in tables:
        if not isinstance(table, dict):
            raise SandboxConfigError(f"sandbox config {path}: [{where}] is not a table")
        unknown = sorted(set(table) - set(DEFAULT_BEHAVIOUR))
        if unknown:
            raise SandboxConfigError(f"sandbox config {path}: [{where}] has unknown setting(s) {', '.join(unknown)}")
        if "answer" in table:
            table["answer"] = _answer(path, where, table["answer"])
        if is_reply_file(table.get("reply")):
            table["reply"] = _file(path, where, "reply", str(table["reply"]))
    default.update(tables[0][1])
    for where, overrides in tables[1:]:
        numbers.setdefault(where[len('numbers."') : -1], {}).update(overrides)
    return default, numbers


def _answer(config: str, where: str, answer: object) -> str:
    if not isinstance(answer, str) or not answer:
        raise SandboxConfigError(
            f"sandbox config {config}: [{where}] answer must be one of {', '.join(ANSWERS)} or a WAV path"
        )
    if not is_file_answer(answer):
        return answer
    return _file(config, where, "answer", answer)


def is_reply_file(reply: object) -> bool:
    """A reply that names a recorded utterance (a .wav path) rather than words to speak."""
    return isinstance(reply, str) and reply.lower().endswith(".wav")


def _file(config: str, where: str, setting: str, name: str) -> str:
    """The absolute path of a file a setting names (relative to the config's folder); it must exist."""
    file = Path(name).expanduser()
    if not file.is_absolute():
        file = Path(config).resolve().parent / file
    if not file.is_file():
        raise SandboxConfigError(f"sandbox config {config}: [{where}] {setting} file {file} does not exist")
    return str(file)


def behaviour_for(number: str, default: dict[str, Any], numbers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = dict(default)
    merged.update(numbers.get(number, {}))
    return merged


def replies(behaviour: dict[str, Any]) -> bool:
    """Whether this callee answers the caller's prompts: only a person does, when it has words."""
    return behaviour["answer"] == "human" and bool(behaviour.get("reply")) and int(behaviour.get("reply_max") or 0) > 0


def describe(behaviour: dict[str, Any]) -> tuple[str, list[str]]:
    """(what the callee does, its key settings as "name=value"), for `wirexa sandbox callees`."""
    b = behaviour
    answer = str(b["answer"])
    settings: list[str] = []
    if answer in FINAL_CODES:
        return f"{answer} ({FINAL_CODES[answer]})", settings
    if answer == "ring":
        return "rings, never answers", settings
    settings.append(f"ring_s={b['ring_s']:g}")
    if answer == "human":
        what = "person"
        settings.append(f"greeting={b['greeting']!r}")
        if replies(b):
            settings.append(f"reply={b['reply']!r}")
            settings.append(
                f"reply_after={b['reply_after']}"
                + (f" (+{b['reply_delay_s']:g} s)" if b["reply_after"] == "prompt" else " s")
            )
            settings.append(f"reply_max={b['reply_max']}")
    elif answer == "machine":
        what = "answering machine (greeting, beep, silence)"
    elif answer == "silence":
        what = "silence"
    else:
        what = "plays a WAV " + ("in a loop" if b.get("loop") else "once, then silence")
        settings.append(f"file={answer}")
    if b.get("press"):
        settings.append(f"press={b['press']!r}")
        settings.append(
            f"press_after={b['press_after']}"
            + (f" (+{b['press_delay_s']:g} s)" if b["press_after"] == "prompt" else " s")
        )
    if float(b.get("hangup_after_s") or 0) > 0:
        settings.append(f"hangup_after_s={b['hangup_after_s']:g}")
    return what, settings
