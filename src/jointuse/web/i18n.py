"""The web pages' message catalogue (``messages.toml``): Japanese first, English; a lookup that
falls back to the key (and a test that every key has both languages)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
CATALOGUE = Path(__file__).with_name("messages.toml")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    with CATALOGUE.open("rb") as f:
        raw = tomllib.load(f)
    return {key: {lang: str(text) for lang, text in entry.items()} for key, entry in raw.items()}


def language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def translate(lang: str, key: str) -> str:
    entry = catalogue().get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or key
