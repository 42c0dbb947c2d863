"""Opening the configured database for a process: migrate it and make sure a project exists."""

from __future__ import annotations

from wirexa.calls.records import ProjectRecord
from wirexa.config import Settings
from wirexa.store.db import Store
from wirexa.store.repo import projects


def open_store(settings: Settings) -> Store:
    """Open and migrate the settings' database (serve, the CLI, tests)."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url)
    store.migrate()
    return store


def ensure_project(store: Store) -> ProjectRecord:
    """The first project, created if the database has none (init and serve on a fresh box)."""
    existing = store.read_sync(projects.list_projects)
    if existing:
        return existing[0]
    return store.write_sync(projects.create_project, "Default project")
