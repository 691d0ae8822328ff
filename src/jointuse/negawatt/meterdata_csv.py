"""Meter CSV parser, long and wide form (see :mod:`jointuse.negawatt.meterdata`). Pure."""

from __future__ import annotations

import csv
import io

from jointuse.negawatt.meterdata_base import (
    MeterDay,
    _date,
    _Days,
    _kwh,
    _point,
    _slot,
    _Where,
)

__all__ = ["parse_csv"]


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
