"""Customer URLs as they go on the wire: the one place that builds the URL we request and sign."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import yarl


def wire_url(url: str, params: Sequence[tuple[str, str]] = ()) -> yarl.URL:
    """The URL exactly as it goes on the wire, which is what gets signed: `url` quoted as aiohttp
    would send it, plus `params` form-encoded onto its query. encoded=True keeps that query byte
    for byte; re-quoted, `%2C` and `%3A` would go out as `,` and `:` and a signature over the
    encoded text would not validate at the receiver. Raises ValueError for a malformed URL."""
    base = yarl.URL(url).with_fragment(None)
    query = base.raw_query_string
    if params:
        query += ("&" if query else "") + urlencode(list(params))
    return yarl.URL(str(base.with_query(None)) + ("?" + query if query else ""), encoded=True)
