"""Hidden entry points of the worker programs (`_sip-worker`, `_sandbox`), frozen or not.

Kept free of Typer so that the pool starts workers fast: `python -m wirexa.sip.entry KIND ...`,
or `wirexa KIND ...` from the PyInstaller binary (cli.main dispatches before Typer).
"""

from __future__ import annotations

import sys


def main(kind: str, argv: list[str]) -> int:
    if kind == "_sip-worker":
        from wirexa.sip import worker

        return worker.main(argv)
    if kind == "_sandbox":
        from wirexa.sip import sandbox

        return sandbox.main(argv)
    print(f"unknown worker kind {kind!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
