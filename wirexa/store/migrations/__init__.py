"""Numbered schema migrations; MIGRATIONS lists them in order (see store/db.py migrate())."""

from wirexa.store.migrations import m0001_initial

MIGRATIONS = (m0001_initial,)
