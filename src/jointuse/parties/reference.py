"""Reference data shipped with jointuse: the ten supply areas with their TSOs, and OCCTO.

Loaded from ``jointuse/data/reference_parties.toml`` on first use (cached; nothing happens at
import time) and validated: every problem raises :class:`~jointuse.core.errors.ConfigError`
naming the file, the line of the offending entry and what would be valid.

The area code (エリアコード) is the first two digits of a supply point ID (供給地点特定番号);
each area has exactly one general transmission & distribution operator (一般送配電事業者, TSO).
"""

from __future__ import annotations

import functools
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jointuse.core.errors import ConfigError, ValidationError
from jointuse.core.valuesets import entry_lines

REFERENCE_FILE = "reference_parties.toml"

_AREA_KEYS = frozenset({"code", "region_ja", "region_en", "prefectures", "tso"})
_PARTY_KEYS = frozenset({"code", "kind", "name_ja", "name_en"})
_PARTY_OPTIONAL = frozenset({"address", "representative", "country"})
_PARTY_KINDS = ("retailer", "tso", "occto", "dr_contractor")


@dataclass(frozen=True, slots=True)
class Area:
    """A supply area (供給区域): two-digit code, region names, prefectures served, its TSO."""

    code: str
    region_ja: str
    region_en: str
    prefectures: tuple[str, ...]
    tso: str


@dataclass(frozen=True, slots=True)
class ReferenceParty:
    """A party known from the reference data (the TSOs and OCCTO). ``address`` and
    ``representative`` (empty: not given) are what a joint-use notice must state of each
    controller (管理責任者); ``country`` (ISO 3166 alpha-2) flags a joint user abroad (APPI
    Art. 28) in ``policy check``."""

    code: str
    kind: str
    name_ja: str
    name_en: str
    address: str = ""
    representative: str = ""
    country: str = "JP"


@dataclass(frozen=True, slots=True)
class Reference:
    areas: tuple[Area, ...]
    parties: tuple[ReferenceParty, ...]

    def area(self, code: str) -> Area:
        for area in self.areas:
            if area.code == code:
                return area
        raise ValidationError(
            f"unknown area code {code!r}; valid area codes: {', '.join(self.area_codes())}",
            field="area_code",
            valid=list(self.area_codes()),
        )

    def area_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.areas)

    def party(self, code: str) -> ReferenceParty:
        for party in self.parties:
            if party.code == code:
                return party
        valid = [p.code for p in self.parties]
        raise ValidationError(
            f"unknown reference party {code!r}; valid: {', '.join(valid)}",
            field="party_code",
            valid=valid,
        )


class _Checker:
    """Builds ConfigErrors that point at the entry's line in the raw text."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = {t: entry_lines(text, t) for t in ("area", "party")}

    def error(self, table: str, index: int, message: str, valid: Any = None) -> ConfigError:
        lines = self.lines.get(table, [])
        line = lines[index] if index < len(lines) else None
        return ConfigError(
            f"[[{table}]] #{index + 1}: {message}", file=self.file, line=line, valid=valid
        )

    def text(self, table: str, index: int, entry: dict[str, Any], key: str) -> str:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(table, index, f"{key!r} must be a non-empty string, got {value!r}")
        return value

    def keys(
        self,
        table: str,
        index: int,
        entry: Any,
        allowed: frozenset[str],
        optional: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(entry, dict):
            raise self.error(table, index, "must be a table")
        unknown = sorted(set(entry) - allowed - optional)
        if unknown:
            raise self.error(
                table,
                index,
                f"unknown key(s) {', '.join(unknown)}",
                valid=sorted(allowed | optional),
            )
        missing = sorted(allowed - set(entry))
        if missing:
            raise self.error(table, index, f"missing key(s) {', '.join(missing)}")


def parse_reference(text: str, *, file: str = REFERENCE_FILE) -> Reference:
    """Parse and validate reference data from TOML ``text`` (``file`` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc
    check = _Checker(text, file)
    unknown_top = sorted(set(raw) - {"area", "party"})
    if unknown_top:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(unknown_top)}", file=file, valid=["area", "party"]
        )

    parties: list[ReferenceParty] = []
    seen_party: set[str] = set()
    for i, entry in enumerate(raw.get("party", [])):
        check.keys("party", i, entry, _PARTY_KEYS, _PARTY_OPTIONAL)
        for key in _PARTY_OPTIONAL & set(entry):
            check.text("party", i, entry, key)
        code = check.text("party", i, entry, "code")
        kind = check.text("party", i, entry, "kind")
        if kind not in _PARTY_KINDS:
            raise check.error("party", i, f"unknown kind {kind!r}", valid=list(_PARTY_KINDS))
        if code in seen_party:
            raise check.error("party", i, f"duplicate party code {code!r}")
        seen_party.add(code)
        parties.append(
            ReferenceParty(
                code=code,
                kind=kind,
                name_ja=check.text("party", i, entry, "name_ja"),
                name_en=check.text("party", i, entry, "name_en"),
                address=entry.get("address", ""),
                representative=entry.get("representative", ""),
                country=entry.get("country", "JP"),
            )
        )
    tsos = {p.code for p in parties if p.kind == "tso"}

    areas: list[Area] = []
    seen_area: set[str] = set()
    seen_tso: dict[str, str] = {}
    for i, entry in enumerate(raw.get("area", [])):
        check.keys("area", i, entry, _AREA_KEYS)
        code = check.text("area", i, entry, "code")
        if len(code) != 2 or not (code.isascii() and code.isdigit()):
            raise check.error("area", i, f"area code must be two ASCII digits, got {code!r}")
        if code in seen_area:
            raise check.error("area", i, f"duplicate area code {code!r}")
        seen_area.add(code)
        prefectures = entry["prefectures"]
        if (
            not isinstance(prefectures, list)
            or not prefectures
            or not all(isinstance(p, str) and p.strip() for p in prefectures)
        ):
            raise check.error("area", i, "'prefectures' must be a non-empty list of names")
        if len(set(prefectures)) != len(prefectures):
            raise check.error("area", i, "'prefectures' lists a prefecture twice")
        tso = check.text("area", i, entry, "tso")
        if tso not in tsos:
            raise check.error(
                "area", i, f"tso {tso!r} is not a [[party]] of kind 'tso'", valid=sorted(tsos)
            )
        if tso in seen_tso:
            raise check.error("area", i, f"tso {tso!r} already serves area {seen_tso[tso]}")
        seen_tso[tso] = code
        areas.append(
            Area(
                code=code,
                region_ja=check.text("area", i, entry, "region_ja"),
                region_en=check.text("area", i, entry, "region_en"),
                prefectures=tuple(prefectures),
                tso=tso,
            )
        )
    if not areas:
        raise ConfigError("no [[area]] entries", file=file)
    orphan = sorted(tsos - set(seen_tso))
    if orphan:
        raise ConfigError(f"TSO(s) {', '.join(orphan)} serve no [[area]]", file=file)
    return Reference(areas=tuple(areas), parties=tuple(parties))


@functools.cache
def load_reference() -> Reference:
    """The shipped reference data, validated (read once, then cached)."""
    resource = resources.files("jointuse") / "data" / REFERENCE_FILE
    return parse_reference(resource.read_text(encoding="utf-8"), file=str(resource))


@functools.cache
def area_codes() -> frozenset[str]:
    """The known area codes ("01".."10")."""
    return frozenset(load_reference().area_codes())


def tso_for_area(area_code: str) -> str:
    """The party code of the TSO of ``area_code`` (e.g. "03" → "tso-03")."""
    return load_reference().area(area_code).tso


@functools.cache
def _prefecture_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for area in load_reference().areas:
        for prefecture in area.prefectures:
            index.setdefault(prefecture, []).append(area.code)
    return {p: tuple(codes) for p, codes in index.items()}


def area_for_prefecture(prefecture: str) -> tuple[str, ...]:
    """Area codes serving ``prefecture`` in reference order (静岡県 → ("03", "04")).

    The name is NFKC-normalised and stripped; an unknown name is a ValidationError listing the
    known prefectures.
    """
    name = unicodedata.normalize("NFKC", prefecture).strip()
    index = _prefecture_index()
    try:
        return index[name]
    except KeyError:
        raise ValidationError(
            f"unknown prefecture {prefecture!r}; expected a full name such as 東京都 or 静岡県",
            field="prefecture",
            valid=sorted(index),
        ) from None
