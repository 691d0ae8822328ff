"""Alembic migrations shipped in the package (how to add one: see :mod:`jointuse.core.db`)."""
