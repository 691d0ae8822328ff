"""Meter CSV parser, long and wide form (see :mod:`jointuse.negawatt.meterdata`). Pure."""

from __future__ import annotations

import csv
import io
import re
import unicodedata

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


#: Japanese column names of meter exports, accepted beside the English ones.
ALIASES = {
    "供給地点特定番号": "supply_point_id",
    "年月日": "date",
    "日付": "date",
    "時間帯": "slot",
    "コマ": "slot",
    "使用電力量": "consumption_kwh",
    "使用量": "consumption_kwh",
    "発電電力量": "generation_kwh",
    "逆潮流電力量": "generation_kwh",
}


def _decode(data: bytes, where: _Where) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS / CP932 (what Japanese systems export)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8:
        try:
            return data.decode("cp932")
        except UnicodeDecodeError as exc:
            line = data[: min(exc.start, utf8.start)].count(b"\n") + 1
            raise where.error(
                f"neither UTF-8 nor Shift_JIS/CP932 text (byte {exc.start}: {exc.reason})",
                line=line,
                valid="UTF-8 (with or without BOM) or Shift_JIS/CP932",
            ) from None


def _column(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).strip()
    text = re.sub(r"\s*[(\[]kwh[)\]]$", "", text, flags=re.IGNORECASE)
    return ALIASES.get(text, text.lower())


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
    cols = [_column(h) for h in header]
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
