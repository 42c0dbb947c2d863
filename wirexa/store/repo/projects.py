"""The projects table: accounts, their auth tokens, their toll-fraud limits and credits."""

from __future__ import annotations

import secrets
from typing import Any

from wirexa.calls.permissions import ProjectLimits
from wirexa.calls.records import ProjectRecord
from wirexa.clock import new_sid, utcnow
from wirexa.store.models import Project
from wirexa.store.sql import Select, Write, record, sids_with_prefix

_PROJECTS = Select(Project, ProjectRecord)
_PROJECT_LIMITS = Select(Project, None, ("allowed_countries", "daily_minutes"))
_PROJECT_WRITE = Write(Project)


def create_project(friendly_name: str, sid: str | None = None, auth_token: str | None = None) -> ProjectRecord:
    now = utcnow()
    row = Project.create(
        sid=sid or new_sid("AC"),
        auth_token=auth_token or secrets.token_hex(16),
        friendly_name=friendly_name,
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
