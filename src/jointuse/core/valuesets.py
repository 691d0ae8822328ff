"""Value sets (コード表): service menus, supply methods, contract states and the like.

Each value set is a data file ``jointuse/data/valuesets/<name>.toml`` so that the official code
tables can replace ours without touching code::

    [valueset]
    label_ja = "供給方式"
    label_en = "supply method"

    [[entry]]
    code = "single_phase_3_wire"
    label_ja = "単相3線式"
    label_en = "single-phase three-wire"
    note = "optional"

Files are read on first use and cached; a broken file raises
:class:`~jointuse.core.errors.ConfigError` naming the file, the line of the offending entry and
what would be valid. The ``area_code`` value set is not a file: it is derived from the reference
data (``reference_parties.toml``), the single source of the ten areas.

The names of the value sets are the item keys of the policy they validate (``service_menu``,
``supply_method``, …), so a refusal names the field the same way the policy does.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jointuse.core.errors import ConfigError, ValidationError

Lang = Literal["ja", "en"]

#: Value sets shipped as files under ``jointuse/data/valuesets/``.
FILE_VALUESETS: tuple[str, ...] = (
    "service_menu",
    "supply_method",
    "capacity_determination_method",
    "contract_state",
    "disconnection_method",
    "contract_kind",
)
#: Value sets derived from other shipped data.
DERIVED_VALUESETS: tuple[str, ...] = ("area_code",)

_HEADER_KEYS = frozenset({"label_ja", "label_en", "source"})
_ENTRY_KEYS = frozenset({"code", "label_ja", "label_en", "note"})
_REQUIRED_ENTRY_KEYS = frozenset({"code", "label_ja", "label_en"})
_CODE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def entry_lines(text: str, table: str) -> list[int]:
    """1-based line numbers of each ``[[table]]`` header in a TOML text, in order.

    Cheap line lookup for error messages: entry *i* of the array of tables ``table`` starts at
    ``entry_lines(text, table)[i]``.
    """
    pattern = re.compile(r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]\s*(#.*)?$")
    return [n for n, line in enumerate(text.splitlines(), start=1) if pattern.fullmatch(line)]


@dataclass(frozen=True, slots=True)
class ValueEntry:
    code: str
    label_ja: str
    label_en: str
    note: str | None = None

    def label(self, lang: Lang = "ja") -> str:
        return self.label_ja if lang == "ja" else self.label_en


@dataclass(frozen=True, slots=True)
class ValueSet:
    """One code table: its name (= the item key it validates), labels and entries in order."""

    name: str
    label_ja: str
    label_en: str
    entries: tuple[ValueEntry, ...]
    source: str | None = None

    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.entries)

    def __contains__(self, code: object) -> bool:
        return any(e.code == code for e in self.entries)

    def get(self, code: str) -> ValueEntry:
        """The entry for ``code``; an unknown code is a ValidationError listing the valid ones."""
        for entry in self.entries:
            if entry.code == code:
                return entry
        raise self._unknown(code, self.name)

    def validate(self, code: str, *, field: str | None = None) -> str:
        """Return ``code`` if it is in the set; else a ValidationError naming ``field``."""
        if code in self:
            return code
        raise self._unknown(code, field or self.name)

    def resolve(self, text: str, *, field: str | None = None) -> str:
        """Accept a code or a Japanese/English label as people type it (NFKC, case-insensitive
        for English) and return the code: "従量電灯Ｂ" → the code of 従量電灯B."""
        wanted = unicodedata.normalize("NFKC", text).strip()
        for entry in self.entries:
            if wanted in (entry.code, unicodedata.normalize("NFKC", entry.label_ja)):
                return entry.code
            if wanted.casefold() == entry.label_en.casefold():
                return entry.code
        raise self._unknown(text, field or self.name)

    def label(self, code: str, lang: Lang = "ja") -> str:
        return self.get(code).label(lang)

    def _unknown(self, code: str, field: str) -> ValidationError:
        valid = list(self.codes())
        return ValidationError(
            f"{field}: unknown {self.label_en} {code!r}; valid codes: {', '.join(valid)}",
            field=field,
            valid=valid,
        )


def parse_valueset(text: str, *, name: str, file: str) -> ValueSet:
    """Parse and validate one value-set file's ``text`` (``file`` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc
    unknown_top = sorted(set(raw) - {"valueset", "entry"})
    if unknown_top:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(unknown_top)}",
            file=file,
            valid=["valueset", "entry"],
        )
    header = raw.get("valueset")
    if not isinstance(header, dict):
        raise ConfigError("missing [valueset] table with label_ja and label_en", file=file)
    unknown_header = sorted(set(header) - _HEADER_KEYS)
    if unknown_header:
        raise ConfigError(
            f"[valueset]: unknown key(s) {', '.join(unknown_header)}",
            file=file,
            valid=sorted(_HEADER_KEYS),
        )
    for key in ("label_ja", "label_en"):
        if not isinstance(header.get(key), str) or not header[key].strip():
            raise ConfigError(f"[valueset]: {key!r} must be a non-empty string", file=file)

    lines = entry_lines(text, "entry")
    raw_entries = raw.get("entry")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ConfigError("no [[entry]] tables: a value set needs at least one code", file=file)

    entries: list[ValueEntry] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_entries):
        line = lines[i] if i < len(lines) else None
        entries.append(_parse_entry(item, i, seen, file=file, line=line))
    source = header.get("source")
    return ValueSet(
        name=name,
        label_ja=header["label_ja"],
        label_en=header["label_en"],
        entries=tuple(entries),
        source=source if isinstance(source, str) else None,
    )


def _parse_entry(
    item: Any, index: int, seen: dict[str, int], *, file: str, line: int | None
) -> ValueEntry:
    where = f"[[entry]] #{index + 1}"
    if isinstance(item, dict) and isinstance(item.get("code"), str):
        where += f" (code {item['code']!r})"

    def fail(message: str, valid: Any = None) -> ConfigError:
        return ConfigError(f"{where}: {message}", file=file, line=line, valid=valid)

    if not isinstance(item, dict):
        raise fail("must be a table")
    unknown = sorted(set(item) - _ENTRY_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}", valid=sorted(_ENTRY_KEYS))
    missing = sorted(_REQUIRED_ENTRY_KEYS - set(item))
    if missing:
        raise fail(f"missing key(s) {', '.join(missing)}", valid=sorted(_REQUIRED_ENTRY_KEYS))
    for key in ("code", "label_ja", "label_en"):
        if not isinstance(item[key], str) or not item[key].strip():
            raise fail(f"{key!r} must be a non-empty string, got {item[key]!r}")
    code = item["code"]
    if not _CODE.fullmatch(code):
        raise fail(f"code {code!r} may hold only ASCII letters, digits, '_', '.' and '-'")
    if code in seen:
        raise fail(f"duplicate code {code!r} (first defined in entry #{seen[code] + 1})")
    seen[code] = index
    note = item.get("note")
    if note is not None and not isinstance(note, str):
        raise fail(f"'note' must be a string, got {note!r}")
    return ValueEntry(code=code, label_ja=item["label_ja"], label_en=item["label_en"], note=note)


def load_valueset_file(path: Path, *, name: str | None = None) -> ValueSet:
    """Load a value set from any file (e.g. an official code table converted to this format)."""
    return parse_valueset(path.read_text(encoding="utf-8"), name=name or path.stem, file=str(path))


def valueset_names() -> tuple[str, ...]:
    return FILE_VALUESETS + DERIVED_VALUESETS


@functools.cache
def load_valueset(name: str) -> ValueSet:
    """The shipped value set ``name`` (read once, then cached)."""
    if name == "area_code":
        return _area_code_valueset()
    if name not in FILE_VALUESETS:
        valid = list(valueset_names())
        raise ValidationError(
            f"unknown value set {name!r}; valid: {', '.join(valid)}", field="valueset", valid=valid
        )
    resource = resources.files("jointuse") / "data" / "valuesets" / f"{name}.toml"
    return parse_valueset(resource.read_text(encoding="utf-8"), name=name, file=str(resource))


def _area_code_valueset() -> ValueSet:
    from jointuse.parties.reference import load_reference

    entries = tuple(
        ValueEntry(code=a.code, label_ja=a.region_ja, label_en=a.region_en)
        for a in load_reference().areas
    )
    return ValueSet(
        name="area_code",
        label_ja="供給区域",
        label_en="supply area",
        entries=entries,
        source="reference_parties.toml",
    )


def validate_code(valueset: str, code: str, *, field: str | None = None) -> str:
    """Check ``code`` against the shipped value set ``valueset`` and return it."""
    return load_valueset(valueset).validate(code, field=field or valueset)
