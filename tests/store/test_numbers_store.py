"""Schema 6 (numbers, applications, phones): the migration from empty and from version 5 with
data in it, the unique numbers and usernames, find_route (a number's own URLs or its
Application's), the PhoneNumber filter, and the desk phones' credentials."""

from __future__ import annotations

import pytest

from tests.store import schema
from wirexa.errors import StoreError
from wirexa.store.db import Store, migrate
from wirexa.store.migrations import MIGRATIONS, m0006_numbers
from wirexa.store.repo.applications import (
    delete_application,
    get_application,
    insert_application,
    list_applications,
    update_application,
)
from wirexa.store.repo.numbers import (
    InboundRoute,
    NumberFilter,
    delete_number,
    find_route,
    get_number,
    insert_number,
    list_numbers,
    number_by_phone,
    phone_number_pattern,
    update_number,
)
from wirexa.store.repo.phones import delete_phone, find_phone, insert_phone, list_phones
from wirexa.store.repo.projects import create_project


def tables(store: Store) -> set[str]:
    return schema.tables(store.db)


def test_schema_6_from_version_5_keeps_the_data(db_url: str) -> None:
    store = Store(db_url)
    assert migrate(store.db, target=5) == 5
    store.db.execute_sql(
        "INSERT INTO projects (sid, auth_token, friendly_name, date_created, date_updated) "
        "VALUES ('ACold', 't', 'old', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    assert not {"numbers", "applications", "phones"} & tables(store)
    assert m0006_numbers.VERSION == 6 and MIGRATIONS[5] is m0006_numbers
    assert store.migrate() == len(MIGRATIONS)
    assert {"numbers", "applications", "phones"} <= tables(store)
    assert store.db.execute_sql("SELECT friendly_name FROM projects").fetchall() == [("old",)]
    assert {"numbers_phone_number", "phones_username", "numbers_account_created"} <= schema.indexes(store.db)
    number = store.write_sync(insert_number, "ACold", "+14155550100")
    assert number is not None and number.sid.startswith("PN") and len(number.sid) == 34
    store.close()


def test_a_number_is_unique_across_projects(store: Store) -> None:
    a = store.write_sync(create_project, "a")
    b = store.write_sync(create_project, "b")
    first = store.write_sync(lambda: insert_number(a.sid, "+14155550100", friendly_name="(415) 555-0100"))
    assert first is not None and first.friendly_name == "(415) 555-0100"
    assert first.voice_method == "POST" and first.voice_url is None and first.number_type == "local"
    assert store.write_sync(insert_number, b.sid, "+14155550100") is None
    assert store.write_sync(insert_number, a.sid, "+14155550100") is None
    with pytest.raises(StoreError):  # the index holds even past the check
        store.write_sync(
            lambda: store.db.execute_sql(
                "INSERT INTO numbers (sid, account_sid, phone_number, friendly_name, date_created, date_updated)"
                " VALUES ('PNx', ?, '+14155550100', 'x', '2026-01-01', '2026-01-01')",
                (b.sid,),
            )
        )
    assert store.read_sync(get_number, first.sid, b.sid) is None  # another project's
    assert store.read_sync(get_number, first.sid, a.sid) == first
    assert store.read_sync(number_by_phone, "+14155550100") == first
    with pytest.raises(TypeError):
        store.write_sync(lambda: insert_number(a.sid, "+14155550199", bogus=1))


def test_find_route_uses_the_application_and_falls_back_when_it_goes(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    assert store.read_sync(find_route, "+14155550100") is None
    number = store.write_sync(
        lambda: insert_number(
            p.sid,
            "+14155550100",
            voice_url="http://own/voice",
            voice_method="GET",
            voice_fallback_url="http://own/fallback",
            status_callback="http://own/status",
        )
    )
    assert number is not None
    own = InboundRoute(
        account_sid=p.sid,
        phone_number_sid=number.sid,
        phone_number="+14155550100",
        voice_url="http://own/voice",
        voice_method="GET",
        voice_fallback_url="http://own/fallback",
        voice_fallback_method="POST",
        status_callback="http://own/status",
        status_callback_method="POST",
        api_version="2010-04-01",
    )
    assert store.read_sync(find_route, "+14155550100") == own
    assert store.read_sync(find_route, "+1415555010") is None  # exact match only
    app = store.write_sync(
        lambda: insert_application(
            p.sid, friendly_name="IVR", voice_url="http://app/voice", status_callback_method="GET"
        )
    )
    assert app.voice_method == "POST" and app.sid.startswith("AP")
    store.write_sync(lambda: update_number(number.sid, voice_application_sid=app.sid))
    route = store.read_sync(find_route, "+14155550100")
    assert route is not None
    assert (route.voice_url, route.voice_method, route.voice_fallback_url, route.status_callback) == (
        "http://app/voice",
        "POST",
        None,
        None,
    )
    assert route.status_callback_method == "GET" and route.phone_number_sid == number.sid
    updated = store.write_sync(lambda: update_application(app.sid, voice_url="http://app/v2"))
    assert updated is not None and updated.voice_url == "http://app/v2" and updated.date_updated >= app.date_updated
    assert store.read_sync(find_route, "+14155550100").voice_url == "http://app/v2"  # type: ignore[union-attr]
    assert store.write_sync(delete_application, app.sid) is True
    assert store.read_sync(get_application, app.sid) is None
    assert store.read_sync(find_route, "+14155550100") == own
    after = store.read_sync(get_number, number.sid)
    assert after is not None and after.voice_application_sid is None
    assert store.write_sync(delete_application, app.sid) is False
    assert store.write_sync(delete_number, number.sid) is True
    assert store.read_sync(find_route, "+14155550100") is None
    assert store.write_sync(delete_number, number.sid) is False


async def test_find_route_from_the_loop(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    await store.write(insert_number, p.sid, "+442079460000")
    route = await store.lookup(find_route, "+442079460000")
    assert route is not None and route.account_sid == p.sid and route.voice_url is None
    assert await store.read(find_route, "+442079460001") is None


def test_an_application_of_a_number_must_exist(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    with pytest.raises(StoreError):  # the foreign key
        store.write_sync(lambda: insert_number(p.sid, "+14155550100", voice_application_sid="AP" + "0" * 32))


@pytest.mark.parametrize(
    ("typed", "pattern"),
    [
        ("+14155550100", "%+14155550100%"),
        ("555", "%555%"),
        ("415***0100", "%415___0100%"),
        ("(415) 555-01", "%41555501%"),
        ("+1415STORM", "%+141578676%"),
        ("5%5_", "%55%"),  # no LIKE wildcard gets through
        ("", "%%"),
    ],
)
def test_phone_number_pattern(typed: str, pattern: str) -> None:
    assert phone_number_pattern(typed) == pattern


def test_list_numbers_filters_and_pages(store: Store) -> None:
    a = store.write_sync(create_project, "a")
    b = store.write_sync(create_project, "b")
    for i in range(5):
        store.write_sync(insert_number, a.sid, f"+1415555010{i}")
    store.write_sync(lambda: insert_number(a.sid, "+18005550100", number_type="toll-free", friendly_name="Sales"))
    store.write_sync(insert_number, b.sid, "+14155550109")
    mine = NumberFilter(account_sid=a.sid)
    page, more = store.read_sync(list_numbers, mine, 4)
    assert len(page) == 4 and more
    rest, more = store.read_sync(list_numbers, mine, 4, 0, page[-1].sid)
    assert len(rest) == 2 and not more
    assert {n.phone_number for n in page + rest} == {f"+1415555010{i}" for i in range(5)} | {"+18005550100"}
    star, _ = store.read_sync(list_numbers, NumberFilter(a.sid, phone_number="415555010*"), 50)
    assert len(star) == 5
    part, _ = store.read_sync(list_numbers, NumberFilter(a.sid, phone_number="0103"), 50)
    assert [n.phone_number for n in part] == ["+14155550103"]
    named, _ = store.read_sync(list_numbers, NumberFilter(a.sid, friendly_name="Sales"), 50)
    tollfree, _ = store.read_sync(list_numbers, NumberFilter(a.sid, number_type="toll-free"), 50)
    assert [n.phone_number for n in named] == [n.phone_number for n in tollfree] == ["+18005550100"]
    everyone, _ = store.read_sync(list_numbers, NumberFilter(None, phone_number="+14155550109"), 50)
    assert [n.account_sid for n in everyone] == [b.sid]


def test_list_applications(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    for name in ("one", "two", "two"):
        store.write_sync(lambda n=name: insert_application(p.sid, friendly_name=n))
    page, more = store.read_sync(list_applications, p.sid, 2)
    assert len(page) == 2 and more
    twos, more = store.read_sync(lambda: list_applications(p.sid, 50, friendly_name="two"))
    assert len(twos) == 2 and not more


def test_phones(store: Store) -> None:
    a = store.write_sync(create_project, "a")
    b = store.write_sync(create_project, "b")
    alice = store.write_sync(insert_phone, a.sid, "alice", "s3cret")
    assert alice is not None and alice.sid.startswith("CR") and len(alice.sid) == 34
    assert store.write_sync(insert_phone, b.sid, "alice", "other") is None  # unique in the engine
    store.write_sync(insert_phone, b.sid, "bob", "pw")
    assert store.read_sync(find_phone, "alice") == alice
    assert store.read_sync(find_phone, "Alice") is None
    assert [p.username for p in store.read_sync(list_phones, a.sid)] == ["alice"]
    assert [p.username for p in store.read_sync(list_phones)] == ["alice", "bob"]
    assert store.write_sync(delete_phone, "alice") is True
    assert store.write_sync(delete_phone, "alice") is False
    assert store.read_sync(find_phone, "alice") is None
    with pytest.raises(StoreError):
        store.write_sync(
            lambda: store.db.execute_sql(
                "INSERT INTO phones (sid, account_sid, username, password, date_created, date_updated)"
                " VALUES ('CRx', ?, 'bob', 'p', '2026-01-01', '2026-01-01')",
                (a.sid,),
            )
        )
