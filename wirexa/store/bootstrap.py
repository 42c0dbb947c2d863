"""Opening the configured database for a process: migrate it and make sure a project exists."""

from __future__ import annotations

from wirexa.config import Settings
from wirexa.store import repo
from wirexa.store.db import Store


def open_store(settings: Settings) -> Store:
    """Open and migrate the settings' database (serve, the CLI, tests)."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url)
    store.migrate()
    return store


def ensure_project(store: Store) -> repo.ProjectRecord:
    """The first project, created if the database has none (init and serve on a fresh box)."""
    projects = store.read_sync(repo.list_projects)
    if projects:
        return projects[0]
    return store.write_sync(repo.create_project, "Default project")
