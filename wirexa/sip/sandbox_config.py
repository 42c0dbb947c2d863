"""The sandbox carrier's callees, as configured: built-in defaults, sandbox.toml loading and checks.

No pjsua2 here: the sandbox program (wirexa/sip/sandbox.py), the engine (sandbox_config_path) and
`wirexa sandbox callees` all read the callees through this module, so they agree on them.

A callee's `answer` is a keyword (ANSWERS) or the path of an audio file played on answer (a
relative path is taken from the sandbox.toml's folder). The file is played once, then the callee
is silent, unless `loop = true`. A file that is missing is refused here, naming it; the sandbox
program converts a file that is not 8 kHz mono 16-bit PCM with ffmpeg when it loads the config.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from wirexa.config import Settings

DEFAULT_BEHAVIOUR: dict[str, Any] = {
    "answer": "human",  # human | machine | silence | busy | decline | fail | ring | a WAV path
    "ring_s": 1.0,
    "greeting": "Hello?",
    # What a person says when the caller's prompt (a <Say>, a <Record> beep) ends; "" = nothing.
    "reply": "Hi, this is Sam. Sorry I missed you. Please call me back. Bye.",
    "reply_after": "prompt",  # "prompt" (after each prompt of the caller) or seconds after answer (once)
    "reply_delay_s": 0.3,  # with "prompt": seconds after the prompt ended
    "reply_max": 3,  # replies per call; then the person only listens
    "press": "",
    "press_after": "prompt",  # "prompt" (after the caller's first prompt ends) or seconds after answer
    "press_delay_s": 2.0,
    "hangup_after_s": 0.0,  # 0 = the callee never hangs up
    "loop": False,  # a WAV answer: play it again and again (else once, then silence)
}

DEFAULT_NUMBERS: dict[str, dict[str, Any]] = {
    "+15005550001": {"answer": "busy"},
    "+15005550002": {"answer": "ring"},
    "+15005550003": {"answer": "fail"},
    "+15005550004": {"answer": "decline"},
    "+15005550005": {"answer": "machine"},
}

FINAL_CODES = {"busy": 486, "decline": 603, "fail": 503}
ANSWERS = ("human", "machine", "silence", "ring", *FINAL_CODES)


class SandboxConfigError(ValueError):
    """A sandbox.toml that cannot be used; the message names the file (and the callee)."""


def sandbox_config_path(settings: Settings) -> str:
    """sandbox.config, else config/sandbox.toml beside the config file, else built-in defaults."""
    if settings.sandbox_config:
        return str(settings.sandbox_config)
    if settings.config_file:
        candidate = Path(settings.config_file).parent / "sandbox.toml"
        if candidate.is_file():
            return str(candidate)
    return ""


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
    file = Path(answer).expanduser()
    if not file.is_absolute():
        file = Path(config).resolve().parent / file
    if not file.is_file():
        raise SandboxConfigError(f"sandbox config {config}: [{where}] answer file {file} does not exist")
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
