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

import csv
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.parsers import expat

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import InvalidSupplyPointId, ValidationError
from jointuse.core.ids import SupplyPointId

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

F64 = npt.NDArray[np.float64]
Flow = Literal["consumption", "generation"]

#: Largest uncompressed zip member accepted (a guard against zip bombs).
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 10_000


class MeterDataError(ValidationError):
    """A meter data file that is refused; names file, zip member, line, record and reason."""

    code = "invalid_meter_data"

    def __init__(
        self,
        reason: str,
        *,
        file: str,
        member: str | None = None,
        line: int | None = None,
        record: str | None = None,
        field: str | None = None,
        valid: object = None,
    ) -> None:
        where = file + (f"!{member}" if member else "") + (f":{line}" if line else "")
        what = f" ({record})" if record else ""
        super().__init__(
            f"{where}{what}: {reason}",
            field=field,
            valid=valid,
            file=file,
            member=member,
            line=line,
            record=record,
            reason=reason,
        )
        self.file = file
        self.member = member
        self.line = line
        self.record = record
        self.reason = reason


@dataclass(frozen=True, eq=False)
class MeterDay:
    """One supply point's JST day: ``consumption`` (and ``generation`` or None), kWh per slot."""

    supply_point_id: SupplyPointId
    date: dt.date
    consumption: F64
    generation: F64 | None = None

    def same_values(self, other: MeterDay) -> bool:
        """Equal point, day and values (NaN equals NaN)."""

        def eq(a: F64 | None, b: F64 | None) -> bool:
            if a is None or b is None:
                return a is None and b is None
            return bool(np.array_equal(a, b, equal_nan=True))

        return (
            self.supply_point_id == other.supply_point_id
            and self.date == other.date
            and eq(self.consumption, other.consumption)
            and eq(self.generation, other.generation)
        )


@dataclass
class _Where:
    file: str
    member: str | None = None

    def error(
        self,
        reason: str,
        *,
        line: int | None = None,
        record: str | None = None,
        field: str | None = None,
        valid: object = None,
    ) -> MeterDataError:
        return MeterDataError(
            reason,
            file=self.file,
            member=self.member,
            line=line,
            record=record,
            field=field,
            valid=valid,
        )


@dataclass
class _Days:
    """Collects slot values per (point, day, flow); a slot given twice is refused."""

    slots: int
    values: dict[tuple[SupplyPointId, dt.date, Flow], F64] = field(default_factory=dict)
    given: dict[tuple[SupplyPointId, dt.date, Flow], set[int]] = field(default_factory=dict)

    def put(
        self,
        where: _Where,
        point: SupplyPointId,
        day: dt.date,
        flow: Flow,
        slot: int,
        value: float,
        *,
        line: int | None,
        record: str,
    ) -> None:
        key = (point, day, flow)
        arr = self.values.get(key)
        if arr is None:
            arr = self.values[key] = np.full(self.slots, np.nan)
        seen = self.given.setdefault(key, set())
        if slot in seen:
            raise where.error(
                f"{flow} of slot {slot} on {day} for {point.masked()} is given twice",
                line=line,
                record=record,
                field="slot",
            )
        seen.add(slot)
        arr[slot - 1] = value

    def rows(self) -> list[MeterDay]:
        keys = sorted({(p, d) for p, d, _ in self.values})
        out = []
        for p, d in keys:
            cons = self.values.get((p, d, "consumption"))
            if cons is None:
                cons = np.full(self.slots, np.nan)
            gen = self.values.get((p, d, "generation"))
            if gen is not None and np.isnan(gen).all():
                gen = None  # a generation column left empty all day: no generation data
            out.append(MeterDay(p, d, cons, gen))
        return out


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


# --- field parsers ------------------------------------------------------------------------------

_DATE_FORMATS = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}/\d{2}/\d{2}$"), "%Y/%m/%d"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
)


def _date(text: str, where: _Where, line: int | None, record: str) -> dt.date:
    t = text.strip()
    for pattern, fmt in _DATE_FORMATS:
        if pattern.match(t):
            try:
                return dt.datetime.strptime(t, fmt).date()
            except ValueError:
                break
    raise where.error(
        f"date {text!r} is not a calendar date",
        line=line,
        record=record,
        field="date",
        valid="YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD (JST)",
    )


def _point(text: str, where: _Where, line: int | None, record: str) -> SupplyPointId:
    try:
        return SupplyPointId.parse(text)
    except InvalidSupplyPointId as exc:
        raise where.error(
            exc.message, line=line, record=record, field="supply_point_id", valid=exc.valid
        ) from None


def _slot(text: str, slots: int, where: _Where, line: int | None, record: str) -> int:
    t = text.strip()
    if not t.isascii() or not t.isdigit() or not 1 <= int(t) <= slots:
        raise where.error(
            f"slot {text!r} is not a slot number",
            line=line,
            record=record,
            field="slot",
            valid=f"1..{slots} (slot 1 = 00:00-00:30 JST)",
        )
    return int(t)


_NUMBER = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)$")


def _kwh(text: str | None, name: str, where: _Where, line: int | None, record: str) -> float:
    t = (text or "").strip()
    if not t:
        return math.nan
    if not _NUMBER.match(t):
        reason = "is negative" if t.startswith("-") else "is not a number of kWh"
        raise where.error(
            f"{name} {t!r} {reason}",
            line=line,
            record=record,
            field=name,
            valid="a non-negative decimal number of kWh, or empty for a missing slot",
        )
    return float(t)


# --- CSV ----------------------------------------------------------------------------------------


def _decode(data: bytes, where: _Where) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise where.error(
            f"not UTF-8 text (byte {exc.start}: {exc.reason})",
            line=line,
            valid="UTF-8 (with or without BOM)",
        ) from None


def parse_csv(
    data: bytes | str, *, file: str, member: str | None = None, slots_per_day: int = 48
) -> list[MeterDay]:
    """Parse a long- or wide-form meter CSV (see the module docstring)."""
    where = _Where(file, member)
    text = data if isinstance(data, str) else _decode(data, where)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise where.error("the file is empty; a header row is needed", line=1) from None
    except csv.Error as exc:
        raise where.error(f"malformed CSV: {exc}", line=1) from None
    cols = [h.strip().lower() for h in header]
    days = _Days(slots_per_day)
    width = len(str(slots_per_day))
    cons_cols = [f"consumption_{n:0{width}d}" for n in range(1, slots_per_day + 1)]
    gen_cols = [f"generation_{n:0{width}d}" for n in range(1, slots_per_day + 1)]
    if "slot" in cols:
        allowed = ["supply_point_id", "date", "slot", "consumption_kwh", "generation_kwh"]
        required = allowed[:4]
        form = "long"
    else:
        allowed = ["supply_point_id", "date", *cons_cols, *gen_cols]
        required = ["supply_point_id", "date", *cons_cols]
        form = "wide"
    unknown = [c for c in cols if c not in allowed]
    missing = [c for c in required if c not in cols]
    if unknown or missing or len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        parts = [
            f"unknown columns {unknown}" if unknown else "",
            f"missing columns {missing[:5]}{'…' if len(missing) > 5 else ''}" if missing else "",
            f"duplicate columns {dup}" if dup else "",
        ]
        raise where.error(
            f"header of a {form}-form meter CSV: " + "; ".join(p for p in parts if p),
            line=1,
            record="header",
            valid=required + (["generation_kwh"] if form == "long" else ["generation_NN…"]),
        )
    idx = {c: i for i, c in enumerate(cols)}
    has_gen = ("generation_kwh" in idx) if form == "long" else gen_cols[0] in idx
    if form == "wide" and any(g in idx for g in gen_cols) and not all(g in idx for g in gen_cols):
        raise where.error(
            "wide form: generation columns must be all present or all absent",
            line=1,
            record="header",
            valid=gen_cols,
        )
    try:
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            record = f"row {line}"
            if len(row) != len(cols):
                raise where.error(
                    f"row has {len(row)} fields, the header has {len(cols)}",
                    line=line,
                    record=record,
                )
            point = _point(row[idx["supply_point_id"]], where, line, record)
            day = _date(row[idx["date"]], where, line, record)
            if form == "long":
                slot = _slot(row[idx["slot"]], slots_per_day, where, line, record)
                record = f"{point.masked()} {day} slot {slot}"
                c = _kwh(row[idx["consumption_kwh"]], "consumption_kwh", where, line, record)
                days.put(where, point, day, "consumption", slot, c, line=line, record=record)
                if has_gen:
                    g = _kwh(row[idx["generation_kwh"]], "generation_kwh", where, line, record)
                    days.put(where, point, day, "generation", slot, g, line=line, record=record)
                continue
            record = f"{point.masked()} {day}"
            for flow, names in (("consumption", cons_cols), ("generation", gen_cols)):
                if flow == "generation" and not has_gen:
                    break
                for n, name in enumerate(names, start=1):
                    v = _kwh(row[idx[name]], name, where, line, record)
                    days.put(where, point, day, flow, n, v, line=line, record=record)  # type: ignore[arg-type]
    except csv.Error as exc:
        raise where.error(f"malformed CSV: {exc}", line=reader.line_num) from None
    return days.rows()


# --- XML ----------------------------------------------------------------------------------------


@dataclass
class _Node:
    tag: str
    line: int
    children: list[_Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str) -> list[_Node]:
        return [c for c in self.children if c.tag == tag]

    def one(self, tag: str, where: _Where, record: str, *, required: bool = True) -> _Node | None:
        found = self.all(tag)
        if len(found) > 1:
            raise where.error(
                f"<{tag}> appears {len(found)} times in <{self.tag}>",
                line=found[1].line,
                record=record,
            )
        if not found and required:
            raise where.error(
                f"<{self.tag}> has no <{tag}>", line=self.line, record=record, field=tag
            )
        return found[0] if found else None


def _local(name: str) -> str:
    # expat with namespace_separator=" " gives "uri local"; plain parsing gives "prefix:local".
    return name.rsplit(" ", 1)[-1].rsplit(":", 1)[-1]


def _xml_tree(data: bytes, where: _Where) -> _Node:
    """Parse with expat, refusing any DOCTYPE (hence any entity declaration or expansion)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[_Node] = []
    root: list[_Node] = []

    def start(name: str, _attrs: dict[str, str]) -> None:
        node = _Node(_local(name), parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].text += text

    def doctype(name: str, *_args: object) -> None:
        raise where.error(
            f"<!DOCTYPE {name}> is refused (no DTDs or entities in meter data)",
            line=parser.CurrentLineNumber,
            valid="XML without a document type declaration",
        )

    def no_entity(*_args: object) -> None:
        raise where.error("entity declarations are refused", line=parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = no_entity
    parser.ExternalEntityRefHandler = no_entity  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise where.error(
            f"malformed XML: {expat.errors.messages[exc.code]} (column {exc.offset})",
            line=exc.lineno,
        ) from None
    return root[0]


def parse_xml(
    data: bytes, *, file: str, member: str | None = None, slots_per_day: int = 48
) -> list[MeterDay]:
    """Parse a TSO 30-minute usage XML (``SBD-MSG/JPMGRP/{JPMGH,JPTRM}``, see module docstring)."""
    where = _Where(file, member)
    root = _xml_tree(data, where)
    if root.tag != "SBD-MSG":
        raise where.error(
            f"root element <{root.tag}> is not a meter data message",
            line=root.line,
            valid="<SBD-MSG>",
        )
    grp = root.one("JPMGRP", where, "SBD-MSG")
    assert grp is not None
    grp.one("JPMGH", where, "SBD-MSG/JPMGRP")
    trms = grp.all("JPTRM")
    if not trms:
        raise where.error("<JPMGRP> has no <JPTRM>", line=grp.line, field="JPTRM")
    days = _Days(slots_per_day)
    for t, trm in enumerate(trms, start=1):
        base = f"JPTRM[{t}]"
        m10 = trm.one("JPM00010", where, base)
        assert m10 is not None
        for p, grp10 in enumerate(m10.all("JPMR00010"), start=1):
            _xml_point(grp10, f"{base}/JPMR00010[{p}]", where, days, slots_per_day)
    return days.rows()


def _xml_point(node: _Node, rec: str, where: _Where, days: _Days, slots: int) -> None:
    pid_node = node.one("JP06400", where, rec)
    assert pid_node is not None
    point = _point(pid_node.text, where, pid_node.line, rec)
    exists = node.one("JP06405", where, rec, required=False)
    if exists is not None:
        flag = exists.text.strip()
        if flag == "1":
            return
        if flag != "0":
            raise where.error(
                f"JP06405 (data present) is {flag!r}",
                line=exists.line,
                record=rec,
                field="JP06405",
                valid=["0 (data present)", "1 (no data)"],
            )
    flow_node = node.one("X-FLOW", where, rec, required=False)
    flow: Flow = "consumption"
    if flow_node is not None:
        f = flow_node.text.strip().lower()
        if f not in ("consumption", "generation"):
            raise where.error(
                f"X-FLOW {f!r} is not a flow",
                line=flow_node.line,
                record=rec,
                field="X-FLOW",
                valid=["consumption", "generation"],
            )
        flow = "generation" if f == "generation" else "consumption"
    m13 = node.one("JPM00013", where, rec)
    assert m13 is not None
    for d, day_node in enumerate(m13.all("JPMR00013"), start=1):
        drec = f"{rec}/JPMR00013[{d}]"
        date_node = day_node.one("JP06423", where, drec)
        assert date_node is not None
        day = _date(date_node.text, where, date_node.line, drec)
        m14 = day_node.one("JPM00014", where, drec)
        assert m14 is not None
        for s, slot_node in enumerate(m14.all("JPMR00014"), start=1):
            srec = f"{drec}/JPMR00014[{s}] {point.masked()} {day}"
            sn = slot_node.one("JP06219", where, srec)
            vn = slot_node.one("JP06424", where, srec)
            assert sn is not None and vn is not None
            slot = _slot(sn.text, slots, where, sn.line, srec)
            value = _kwh(vn.text, "JP06424", where, vn.line, srec)
            days.put(where, point, day, flow, slot, value, line=vn.line, record=srec)


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
