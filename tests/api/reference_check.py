"""The Twilio extracts under tests/api/data/ checked against ../shared/reference/twilio_api_v2010.json,
where that file is (the workplace; not a clone, so this is no test the suite would have to skip):

    .venv/bin/python -m tests.api.reference_check

Run it after updating the reference or an extract; it prints what differs and exits 1."""

from __future__ import annotations

import json
import sys

from tests.api.conftest import REFERENCE, assert_verbatim
from tests.api.test_keys import SCHEMAS as KEYS
from tests.api.test_numbers import SCHEMAS as NUMBERS
from tests.api.test_parameters import extract, twilio_operations
from tests.api.test_usage import SCHEMAS as USAGE


def main() -> int:
    if not REFERENCE.exists():
        print(f"no {REFERENCE}: nothing to check against", file=sys.stderr)
        return 1
    for path in (KEYS, NUMBERS, USAGE):
        assert_verbatim(path)
    assert extract(json.loads(REFERENCE.read_text())) == twilio_operations(), "rewrite twilio_v2010_parameters.json"
    print("the extracts are Twilio's, as the reference has them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
