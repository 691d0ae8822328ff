"""Half-hourly meter data (30分電力量) import: CSV, the TSOs' XML, and zip files of either. Pure.

Every parser returns :class:`MeterDay` rows — one per supply point and JST day, with the day's
``slots_per_day`` (48) consumption values and, where delivered, generation (逆潮流) values, in
kWh, ``NaN`` where a slot is missing. Slots are Japan time (JST, no DST): slot 1 is 00:00–00:30,
slot 48 is 23:30–24:00; slot number ``n`` is array index ``n - 1``.

A file is parsed **completely** before anything is returned: one bad record rejects the whole
file with a :class:`MeterDataError` naming the file, the member inside a zip, the line, the
record and the reason. Nothing of a rejected file is ever written.

CSV (UTF-8, optional BOM; a header row is required; column names are case-insensitive)
    *Long form*, one row per slot::

        supply_point_id,date,slot,consumption_kwh[,generation_kwh]
        0312345678901234567890,2024-07-01,1,0.532,0.000

    *Wide form*, one row per day::

        supply_point_id,date,consumption_01,…,consumption_48[,generation_01,…,generation_48]

    ``supply_point_id`` is parsed with :meth:`SupplyPointId.parse` (grouped or full-width input
    accepted); ``date`` is the JST day as ``YYYY-MM-DD``, ``YYYY/MM/DD`` or ``YYYYMMDD``; ``slot``
    is 1–48. Values are non-negative decimal kWh; an empty value is a missing slot. Unknown
    columns, a slot given twice, negative or non-numeric values are refused.

XML, the shape of the TSOs' confirmed 30-minute usage delivery (電力量提供等EDI, CII syntax)
    Only the elements below are read; other elements inside them (names, meter data, header
    fields) are allowed and ignored. Namespaces are ignored (local names are matched). A
    ``<!DOCTYPE`` (and with it every entity declaration) is refused, so entity expansion and
    external entities cannot happen::

        SBD-MSG
          JPMGRP
            JPMGH                  message header (required; its content is not interpreted)
            JPTRM                  one or more
              JPM00010
                JPMR00010          one per supply point (and flow)
                  JP06400          supply point ID (供給地点特定番号)
                  JP06405          optional: 0 = data present, 1 = no data (group skipped)
                  X-FLOW           optional, this project's extension: consumption (default)
                                   or generation — TSOs deliver reverse-flow data separately
                  JPM00013
                    JPMR00013      one per day
                      JP06423      date, YYYYMMDD (JST)
                      JPM00014
                        JPMR00014  one per slot
                          JP06219  slot index 1–48 (時間帯コード)
                          JP06424  kWh (empty = missing)

Zip
    Every member must be a CSV or XML file as above (directories and ``__MACOSX/`` entries are
    skipped); nested archives are refused; members are size-limited against zip bombs.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from jointuse.negawatt.meterdata_base import F64, Flow, MeterDataError, MeterDay, _Days, _Where
from jointuse.negawatt.meterdata_csv import parse_csv
from jointuse.negawatt.meterdata_xml import parse_xml

__all__ = [
    "MAX_MEMBER_BYTES",
    "MeterDataError",
    "MeterDay",
    "compare_days",
    "merge_days",
    "parse_csv",
    "parse_meter_bytes",
    "parse_meter_file",
    "parse_xml",
]

#: Largest uncompressed zip member accepted (a guard against zip bombs).
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 10_000


def compare_days(old: MeterDay, new: MeterDay) -> Literal["same", "completes", "conflict"]:
    """Same values; new data only fills missing slots (and agrees elsewhere); or a conflict."""
    if old.same_values(new):
        return "same"
    pairs = [(old.consumption, new.consumption)]
    if new.generation is not None:
        gen_old = old.generation
        pairs.append(
            (np.full_like(new.generation, np.nan) if gen_old is None else gen_old, new.generation)
        )
    for o, n in pairs:
        if o.shape != n.shape:
            return "conflict"
        known = ~np.isnan(o)
        if not np.array_equal(o[known], n[known]):
            return "conflict"
    return "completes"


def merge_days(old: MeterDay, new: MeterDay) -> MeterDay:
    """``old`` with its missing slots taken from ``new``."""
    cons = np.where(np.isnan(old.consumption), new.consumption, old.consumption)
    gen = new.generation
    if old.generation is not None and new.generation is not None:
        gen = np.where(np.isnan(old.generation), new.generation, old.generation)
    elif old.generation is not None:
        gen = old.generation
    return MeterDay(old.supply_point_id, old.date, cons, gen)


# --- files and zips -----------------------------------------------------------------------------


def _kind(name: str, data: bytes) -> Literal["csv", "xml", "zip"] | None:
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".xml", ".zip"):
        return suffix[1:]  # type: ignore[return-value]
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "xml"
    return None


def _parse_member(data: bytes, kind: str, where: _Where, slots_per_day: int) -> list[MeterDay]:
    if kind == "csv":
        return parse_csv(data, file=where.file, member=where.member, slots_per_day=slots_per_day)
    return parse_xml(data, file=where.file, member=where.member, slots_per_day=slots_per_day)


def _zip_members(data: bytes, where: _Where) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise where.error(f"not a readable zip file: {exc}") from None
    infos = [
        i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
    ]
    if not infos:
        raise where.error("the zip file holds no CSV or XML file")
    if len(infos) > MAX_MEMBERS:
        raise where.error(f"the zip file holds {len(infos)} files; at most {MAX_MEMBERS}")
    for info in infos:
        if info.file_size > MAX_MEMBER_BYTES:
            raise _Where(where.file, info.filename).error(
                f"member expands to {info.file_size} bytes; at most {MAX_MEMBER_BYTES}"
            )
        try:
            with archive.open(info) as fh:
                content = fh.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
            raise _Where(where.file, info.filename).error(f"unreadable member: {exc}") from None
        if len(content) > MAX_MEMBER_BYTES:
            raise _Where(where.file, info.filename).error("member larger than declared")
        yield info.filename, content


def parse_meter_bytes(data: bytes, name: str, *, slots_per_day: int = 48) -> list[MeterDay]:
    """Parse one meter file's bytes; ``name`` (its file name) picks CSV, XML or zip.

    Rows from several zip members are merged; a slot given twice anywhere is refused.
    """
    where = _Where(name)
    kind = _kind(name, data)
    if kind is None:
        raise where.error("unknown file type", valid=[".csv", ".xml", ".zip (of CSV or XML files)"])
    if kind != "zip":
        return _parse_member(data, kind, where, slots_per_day)
    merged = _Days(slots_per_day)
    for member, content in _zip_members(data, where):
        mwhere = _Where(name, member)
        mkind = _kind(member, content)
        if mkind is None or mkind == "zip":
            raise mwhere.error(
                "nested zip files are refused" if mkind == "zip" else "unknown file type",
                valid=[".csv", ".xml"],
            )
        for row in _parse_member(content, mkind, mwhere, slots_per_day):
            _merge(merged, row, mwhere)
    return merged.rows()


def _merge(days: _Days, row: MeterDay, where: _Where) -> None:
    """Add one member's day to the file's days; missing (NaN) slots may come from another."""
    record = f"{row.supply_point_id.masked()} {row.date}"
    flows: tuple[tuple[Flow, F64 | None], ...] = (
        ("consumption", row.consumption),
        ("generation", row.generation),
    )
    for flow, values in flows:
        if values is None:
            continue
        for i in np.flatnonzero(~np.isnan(values)):
            days.put(
                where,
                row.supply_point_id,
                row.date,
                flow,
                int(i) + 1,
                float(values[i]),
                line=None,
                record=record,
            )


def parse_meter_file(path: Path | str, *, slots_per_day: int = 48) -> list[MeterDay]:
    """Read and parse one meter file (CSV, XML or zip)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MeterDataError(f"cannot read: {exc.strerror}", file=str(p)) from None
    return parse_meter_bytes(data, str(p), slots_per_day=slots_per_day)
