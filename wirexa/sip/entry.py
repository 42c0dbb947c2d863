"""Hidden entry points of the worker programs (`_sip-worker`, `_sandbox`, `_dial-in`), frozen or not.

Kept free of Typer so that the pool starts workers fast: `python -m wirexa.sip.entry KIND ...`,
or `wirexa KIND ...` from the PyInstaller binary (cli.main dispatches before Typer).
"""

from __future__ import annotations

import logging
import os
import signal
import sys


def main(kind: str, argv: list[str]) -> int:
    if kind == "_sip-worker":
        from wirexa.sip import worker

        return worker.main(argv)
    if kind == "_sandbox":
        from wirexa.sip import sandbox

        return sandbox.main(argv)
    if kind == "_dial-in":
        from wirexa.sip import sandbox_caller

        return sandbox_caller.main(argv)
    print(f"unknown worker kind {kind!r}", file=sys.stderr)
    return 2


def run(kind: str, argv: list[str]) -> None:
    """main(), then leave at once: the stdin-reader daemon thread may still sit in a read of
    sys.stdin, and a normal interpreter shutdown then dies with "Fatal Python error:
    _enter_buffered_busy". Everything worth keeping is flushed first.

    SIGINT is ignored: the engine stops its workers with a "shutdown" command (or they see EOF
    on stdin when it dies), and a KeyboardInterrupt raised inside libHandleEvents aborts the
    process. The pool also starts them in their own process group, away from a terminal's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = main(kind, argv)
    except Exception as exc:  # noqa: BLE001 - one line for the supervisor's log, then exit 1
        info = getattr(exc, "info", None)
        print(f"{kind}: {info() if callable(info) else f'{type(exc).__name__}: {exc}'}", file=sys.stderr)
        logging.getLogger("wirexa.sip").exception("%s failed", kind)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2:])
