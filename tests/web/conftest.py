"""Fixtures of the web tests: the world is in ``tests/web_world.py``."""

from __future__ import annotations

from web_world import site

__all__ = ["site"]
