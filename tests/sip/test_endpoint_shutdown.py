"""CommandLoop.shutdown: an idle SIP process (no call, no trunk registration) destroys its library
at once, where it used to spend a fixed 2 s (a 1 s BYE window with no call, then libDestroy's own
1 s sleep), which made an idle `wirexa serve` take 4-6 s to exit on Ctrl-C; a process registered
with a trunk keeps libDestroy's wait for its unregistration. Real pjsua2, in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.backends import free_udp_block

pytestmark = pytest.mark.sip  # real pjsua2 libraries started and destroyed, in child processes

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import pjsua2 as pj
    from wirexa.sip.endpoint import CommandLoop, account_config, create_endpoint, registered_accounts

    port, register = int(sys.argv[1]), sys.argv[2] == "register"
    ep = create_endpoint(port=port, bind="127.0.0.1", rtp_port=port + 2, log_file=sys.argv[3], tcp=False)
    cfg = account_config(f"sip:w@127.0.0.1:{port}", "127.0.0.1", port + 2)
    if register:
        cfg.regConfig.registrarUri = "sip:127.0.0.1:9"  # nothing there; only its configuration matters
        cfg.regConfig.registerOnAdd = False
    account = pj.Account()
    account.create(cfg, True)
    loop = CommandLoop(ep, lambda cmd: None, lambda now: None)
    registered = registered_accounts()
    started = time.monotonic()
    loop.shutdown()
    print(json.dumps({"registered": registered, "shutdown_s": time.monotonic() - started}))
    """
)


def shut_down(tmp: object, mode: str) -> dict[str, float]:
    port = free_udp_block(30000, 39000, 10, (0, 2, 3))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(port), mode, f"{tmp}/pj-{mode}.log"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]  # a clean exit, as before
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{mode}: shutdown {result['shutdown_s']:.3f} s")
    return result


def test_an_idle_process_shuts_down_without_the_fixed_waits(tmp_path: object) -> None:
    idle = shut_down(tmp_path, "idle")
    assert idle["registered"] == 0
    assert idle["shutdown_s"] < 1.0  # ~0.02 s; it was 2 s and more, whatever the machine


def test_a_trunk_registration_keeps_the_wait_for_its_unregistration(tmp_path: object) -> None:
    registered = shut_down(tmp_path, "register")
    assert registered["registered"] == 1
    assert registered["shutdown_s"] >= 0.9  # libDestroy's wait, as before
