"""Parser of the TSOs' 30-minute usage XML (see :mod:`jointuse.negawatt.meterdata`). Pure.

Parsed with expat; a ``<!DOCTYPE`` and every entity declaration are refused, so entity expansion
and external entities cannot happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from jointuse.negawatt.meterdata_base import (
    Flow,
    MeterDay,
    _date,
    _Days,
    _kwh,
    _point,
    _slot,
    _Where,
)

__all__ = ["parse_xml"]


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
