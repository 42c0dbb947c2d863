"""Persistence: the only package that imports peewee (db, models, migrations, repo)."""
