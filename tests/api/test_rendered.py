"""Rendered call JSON kept by (sid, date_updated, prefix): never stale, bounded, and the list
envelope spliced from bytes equals the one page_json builds; the fast read path's timestamps."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Any

import pytest

from tests.conftest import Api
from wirexa.api.rendered import RenderedCache, envelope
from wirexa.api.serializers import page_json, page_meta
from wirexa.store.repo.calls import delete_call, update_call
from wirexa.timefmt import rfc2822


@pytest.mark.parametrize(
    "when",
    [dt.datetime(2010, 8, 31, 20, 36, 28, 123), dt.datetime(2026, 1, 1), dt.datetime(2024, 2, 29, 23, 59, 59, 999999)],
)
def test_rfc2822_matches_the_email_module(when: dt.datetime) -> None:
    expected = email.utils.format_datetime(when.replace(tzinfo=dt.UTC, microsecond=0)).replace("-0000", "+0000")
    assert rfc2822(when) == expected


def test_rfc2822_converts_aware_times_to_utc() -> None:
    assert (
        rfc2822(dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
        == "Thu, 01 Jan 2026 01:00:00 +0000"
    )
    assert rfc2822(None) is None


def test_envelope_equals_page_json() -> None:
    records: list[dict[str, Any]] = [{"sid": "CA1", "n": 1}, {"sid": "CA2", "to": "+1 \u00e9"}]
    args: dict[str, Any] = {
        "path": "/x/Calls.json",
        "query": [("To", "+1")],
        "page": 2,
        "page_size": 2,
        "next_token": "PACA2",
    }
    spliced = envelope("calls", [json.dumps(r).encode() for r in records], page_meta(len(records), **args))
    assert json.loads(spliced) == page_json("calls", records, **args)
    empty = envelope("calls", [], page_meta(0, **args))
    assert json.loads(empty) == page_json("calls", [], **args)


def test_cache_is_a_bounded_lru() -> None:
    cache = RenderedCache(max_bytes=30)  # two 12-byte bodies fit, three do not
    made: list[str] = []

    def make(name: str) -> dict[str, Any]:
        made.append(name)
        return {"sid": name}

    assert cache.render(("a", 1, "p"), lambda: make("a")) == b'{"sid": "a"}'
    cache.render(("b", 1, "p"), lambda: make("b"))
    cache.render(("a", 1, "p"), lambda: make("a"))  # hit, and now the newest
    cache.render(("c", 1, "p"), lambda: make("c"))  # evicts b, the least recently used
    assert made == ["a", "b", "c"]
    assert cache.has(("a", 1, "p")) and not cache.has(("b", 1, "p")) and len(cache) == 2 and cache.size == 24
    cache.put(("a", 1, "p"), b"x" * 20)  # replacing counts the new size only: c goes, a stays
    assert len(cache) == 1 and cache.size == 20 and cache.get(("a", 1, "p")) == b"x" * 20


async def _calls(api: Api, path: str = "") -> list[dict[str, Any]]:
    resp = await api.client.get(f"{path or api.base}/Calls.json", headers=api.auth)
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json; charset=utf-8"
    return (await resp.json())["calls"]  # type: ignore[no-any-return]


async def test_an_updated_call_is_never_served_stale(api: Api) -> None:
    sid = (await (await api.create()).json())["sid"]
    assert [c["status"] for c in await _calls(api)] == ["queued"]
    fetched = await (await api.client.get(f"{api.base}/Calls/{sid}.json", headers=api.auth)).json()
    assert fetched["status"] == "queued" and len(api.services.rendered) == 1
    api.store.write_sync(lambda: update_call(sid, status="completed", duration_s=7))
    [listed] = await _calls(api)
    assert listed["status"] == "completed" and listed["duration"] == "7"
    fetched = await (await api.client.get(f"{api.base}/Calls/{sid}.json", headers=api.auth)).json()
    assert fetched["status"] == "completed"


async def test_each_prefix_gets_its_own_uris(api: Api) -> None:
    await api.create()
    [plain] = await _calls(api)
    [laml] = await _calls(api, "/api/laml" + api.base)
    assert plain["uri"].startswith("/2010-04-01/") and laml["uri"].startswith("/api/laml/2010-04-01/")


class Forgetful(RenderedCache):
    """Claims every version during the store read, then has lost them: entries evicted between
    the read and the render."""

    def has(self, key: Any) -> bool:
        return True

    def get(self, key: Any) -> bytes | None:
        return None


async def test_entries_evicted_after_the_read_are_rendered_from_the_store(api: Api) -> None:
    sids = [(await (await api.create(To=f"+1500555000{i}")).json())["sid"] for i in range(3)]
    api.services.rendered = Forgetful()
    api.store.write_sync(lambda: delete_call(sids[1]))  # a deleted call is not listed
    body = await (await api.client.get(f"{api.base}/Calls.json?PageSize=3", headers=api.auth)).json()
    assert [c["sid"] for c in body["calls"]] == [sids[2], sids[0]]
    assert body["end"] == 1 and body["next_page_uri"] is None


async def test_a_polled_page_is_served_whole_until_a_row_on_it_changes(api: Api) -> None:
    sids = [(await (await api.create()).json())["sid"] for _ in range(3)]
    first = await _calls(api)
    assert len(api.services.pages) == 1
    assert await _calls(api) == first and len(api.services.pages) == 1  # the same page, served whole
    api.store.write_sync(lambda: update_call(sids[0], status="completed"))
    second = await _calls(api)
    assert [c["status"] for c in second] == ["queued", "queued", "completed"] and len(api.services.pages) == 2
    new = (await (await api.create()).json())["sid"]
    assert [c["sid"] for c in await _calls(api)] == [new, *reversed(sids)]
    filtered = await (await api.client.get(f"{api.base}/Calls.json?Status=completed", headers=api.auth)).json()
    assert [c["sid"] for c in filtered["calls"]] == [sids[0]]


async def test_paging_through_cached_pages_follows_the_token(api: Api) -> None:
    sids = [(await (await api.create()).json())["sid"] for _ in range(5)]
    seen: list[str] = []
    url: str | None = f"{api.base}/Calls.json?PageSize=2"
    for _ in range(2):  # twice: the second walk is served from the cache
        seen, url = [], f"{api.base}/Calls.json?PageSize=2"
        while url:
            body = await (await api.client.get(url, headers=api.auth)).json()
            seen += [c["sid"] for c in body["calls"]]
            url = body["next_page_uri"]
        assert seen == list(reversed(sids))
