"""Persistence: SQLModel tables, engines and units of work, migrations."""
