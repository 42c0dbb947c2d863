"""PURE: the one time format on Twilio's wire (API resources and webhook Timestamps)."""

from __future__ import annotations

import datetime as dt
import email.utils


def rfc2822(when: dt.datetime | None) -> str | None:
    """UTC datetime -> 'Tue, 31 Aug 2010 20:36:28 +0000' (None stays None)."""
    if when is None:
        return None
    return email.utils.format_datetime(when.replace(tzinfo=dt.UTC, microsecond=0)).replace("-0000", "+0000")
