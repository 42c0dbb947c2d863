"""The projects table: accounts, their auth tokens, their toll-fraud limits and credits, and
subaccounts (a project whose parent_sid names the project that created it)."""

from __future__ import annotations

import secrets
from typing import Any

from wirexa.calls.permissions import ProjectLimits
from wirexa.calls.records import ProjectRecord
from wirexa.clock import new_sid, utcnow
from wirexa.store.models import PhoneNumber, Project
from wirexa.store.sql import Select, Write, newest_first, record, sids_with_prefix

_PROJECTS = Select(Project, ProjectRecord)
_PROJECT_LIMITS = Select(Project, None, ("allowed_countries", "daily_minutes"))
_PROJECT_WRITE = Write(Project)


def create_project(
    friendly_name: str, sid: str | None = None, auth_token: str | None = None, parent_sid: str | None = None
) -> ProjectRecord:
    """A new project (a subaccount of `parent_sid` when given) with a random Auth Token."""
    now = utcnow()
    row = Project.create(
        sid=sid or new_sid("AC"),
        auth_token=auth_token or secrets.token_hex(16),
        friendly_name=friendly_name,
        parent_sid=parent_sid,
        date_created=now,
        date_updated=now,
    )
    return record(ProjectRecord, row)


def get_project(sid: str) -> ProjectRecord | None:
    return _PROJECTS.one('"sid" = ?', (sid,))  # type: ignore[no-any-return]


def project_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of projects starting with `prefix`, as calls.call_sids_with_prefix."""
    return sids_with_prefix(Project, prefix, limit)


def list_projects() -> list[ProjectRecord]:
    return [record(ProjectRecord, r) for r in Project.select().order_by(Project.date_created, Project.sid)]


def update_project(sid: str, **fields: Any) -> ProjectRecord | None:
    fields["date_updated"] = utcnow()
    Project.update(**fields).where(Project.sid == sid).execute()
    return get_project(sid)


def project_limits(sid: str) -> ProjectLimits:
    """A project's own toll-fraud limits (calls/permissions.py); all None for an unknown project."""
    row = _PROJECT_LIMITS.one('"sid" = ?', (sid,))
    return ProjectLimits(row[0], row[1]) if row else ProjectLimits()


def charge_credits(sid: str, seconds: int) -> None:
    """Deduct call-seconds from a metered project (unlimited projects are untouched)."""
    _PROJECT_WRITE.execute(
        'UPDATE "projects" SET "credits_s" = "credits_s" - ? WHERE "sid" = ? AND "credits_s" IS NOT NULL',
        (seconds, sid),
    )


def list_accounts(
    owner_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    friendly_name: str | None = None,
    status: str | None = None,
) -> tuple[list[ProjectRecord], bool]:
    """One page of the accounts `owner_sid` sees (itself and its subaccounts), newest first,
    FriendlyName and Status matched exactly; and whether another page follows."""
    where = ['("sid" = ? OR "parent_sid" = ?)']
    params: list[Any] = [owner_sid, owner_sid]
    for column, value in (("friendly_name", friendly_name), ("status", status)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return newest_first(_PROJECTS, where, params, page_size, page, after_sid)


def close_project(sid: str) -> ProjectRecord | None:
    """Close the project for good (status closed) and release its numbers, as Twilio does when
    a subaccount is closed; None when there is no such project. Its live calls are the caller's
    to hang up (the engine's controller)."""
    if _PROJECT_WRITE.update({"status": "closed", "date_updated": utcnow()}, '"sid" = ?', (sid,)) == 0:
        return None
    PhoneNumber.delete().where(PhoneNumber.account_sid == sid).execute()
    return get_project(sid)
