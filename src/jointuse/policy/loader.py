"""Load and validate the joint-use policy (``data/policy.toml``) into a :class:`Policy`.

Every problem raises :class:`~jointuse.core.errors.ConfigError` naming the file, the line of the
offending table or key in the TOML text, the bad value and what would be valid (with the closest
valid choice suggested). ``tomllib`` gives no line numbers for parsed values, so
:class:`~jointuse.policy.lines.Lines` finds them by scanning the raw text: the line of the N-th
``[[table]]`` header, then the line of the key inside that block, then the line of the quoted
value inside the key's (possibly multi-line) array.

Rules' ``read`` / ``write`` references (``"<item>"`` or ``"<category>.*"``) are expanded to item
keys here, so the engine only ever sees plain item keys.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jointuse.core.errors import ConfigError
from jointuse.policy.lines import Lines
from jointuse.policy.model import (
    Category,
    Controller,
    ControllerException,
    Item,
    Note,
    Notice,
    PartyKind,
    Policy,
    Publisher,
    Purpose,
    Relation,
    Rule,
)

POLICY_FILE = "policy.toml"

_STR, _INT, _BOOL, _LIST = "a string", "an integer", "a boolean", "a list"
_DATE = "a date (YYYY-MM-DD, unquoted)"


@dataclass(frozen=True, slots=True)
class _Field:
    kind: str
    required: bool = True


def _fields(
    required: Iterable[str], optional: Iterable[str] = (), **kinds: str
) -> dict[str, _Field]:
    out = {k: _Field(kinds.get(k, _STR)) for k in required}
    out.update({k: _Field(kinds.get(k, _STR), required=False) for k in optional})
    return out


_SCHEMA: dict[str, dict[str, _Field]] = {
    "notice": _fields(
        ["version", "title_ja", "title_en", "law_ja", "law_en", "preamble_ja", "preamble_en"],
        ["effective_from", "published_on", "advance_notice_days"],
        effective_from=_DATE,
        published_on=_DATE,
        advance_notice_days=_INT,
    ),
    "publisher": _fields(["code", "name_ja", "name_en"], ["address", "representative", "country"]),
    "party_kind": _fields(
        ["key", "label_ja", "label_en"],
        ["number", "note", "joint_use"],
        number=_INT,
        joint_use=_BOOL,
    ),
    "purpose": _fields(
        ["key", "label_ja", "label_en"],
        ["number", "note", "joint_use", "legal_basis_ja", "legal_basis_en"],
        number=_INT,
        joint_use=_BOOL,
    ),
    "category": _fields(
        ["key", "label_ja", "label_en"],
        ["number", "joint_use", "legal_basis_ja", "legal_basis_en"],
        number=_INT,
        joint_use=_BOOL,
    ),
    "item": _fields(["key", "category", "label_ja", "label_en"]),
    "relation": _fields(["key", "label_ja", "label_en"], ["after_end_days"], after_end_days=_INT),
    "controller": _fields(
        ["category", "party_kind", "relation", "label_ja", "label_en"],
        ["exception"],
        exception=_LIST,
    ),
    "controller.exception": _fields(
        ["contract_kinds", "party_kind", "relation", "label_ja", "label_en"], contract_kinds=_LIST
    ),
    "rule": _fields(
        ["id", "purpose", "party_kind", "relations", "read", "write"],
        ["legal_basis_ja", "legal_basis_en"],
        relations=_LIST,
        read=_LIST,
        write=_LIST,
    ),
    "note": _fields(["key", "mark", "text_ja", "text_en"], ["url"]),
}
_SINGLE_TABLES = ("notice", "publisher")
_ARRAY_TABLES = (
    "party_kind",
    "purpose",
    "category",
    "item",
    "relation",
    "controller",
    "rule",
    "note",
)
_TOP_LEVEL = (*_SINGLE_TABLES, *_ARRAY_TABLES)


def _closest(value: str, valid: Sequence[str]) -> str:
    match = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Loader:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.where = Lines(text)

    # -- errors ---------------------------------------------------------------------------------

    def fail(
        self, message: str, line: int | None, valid: Sequence[str] | None = None
    ) -> ConfigError:
        if valid is not None:
            shown = ", ".join(valid)
            message = f"{message}; valid: {shown}"
        return ConfigError(
            message, file=self.file, line=line, valid=list(valid) if valid else valid
        )

    def unknown(
        self,
        what: str,
        label: str,
        value: Any,
        valid: Sequence[str],
        line: int | None,
        where: str = "",
    ) -> ConfigError:
        hint = _closest(value, valid) if isinstance(value, str) else ""
        return ConfigError(
            f"{label}: unknown {what} {value!r}{where}{hint}; valid {what}s: {', '.join(valid)}",
            file=self.file,
            line=line,
            valid=list(valid),
        )

    # -- parsing --------------------------------------------------------------------------------

    def parse(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"at line (\d+)", str(exc))
            line = int(m.group(1)) if m else self.where.duplicate_key()
            raise ConfigError(f"not valid TOML: {exc}", file=self.file, line=line) from exc

    def entries(self, raw: dict[str, Any], table: str) -> list[tuple[dict[str, Any], int | None]]:
        value = raw.get(table, [])
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            raise self.fail(f"'{table}' must be an array of tables [[{table}]]", None)
        if not value:
            raise self.fail(f"no [[{table}]] entries", None)
        return [(e, self.where.table(table, i)) for i, e in enumerate(value)]

    def check_fields(
        self, schema: str, entry: dict[str, Any], line: int | None, label: str
    ) -> None:
        spec = _SCHEMA[schema]
        for key, value in entry.items():
            if key not in spec:
                raise self.unknown("field", label, key, sorted(spec), self.where.key(line, key))
            want = spec[key].kind
            ok = {
                _STR: isinstance(value, str),
                _INT: isinstance(value, int) and not isinstance(value, bool),
                _BOOL: isinstance(value, bool),
                _LIST: isinstance(value, list),
                _DATE: isinstance(value, date) and not isinstance(value, datetime),
            }[want]
            if not ok:
                raise self.fail(
                    f"{label}: field {key!r} must be {want}, got {value!r}",
                    self.where.key(line, key),
                )
        missing = [k for k, f in spec.items() if f.required and k not in entry]
        if missing:
            raise self.fail(f"{label}: missing required field(s) {', '.join(missing)}", line)

    def single(self, raw: dict[str, Any], table: str) -> dict[str, Any]:
        value = raw.get(table)
        line = self.where.table(table)
        if not isinstance(value, dict):
            raise self.fail(f"missing table [{table}]", line)
        self.check_fields(table, value, line, f"[{table}]")
        return value

    def keyed(
        self, raw: dict[str, Any], table: str, key: str = "key"
    ) -> list[tuple[dict[str, Any], int | None, str]]:
        """Entries of an array table, fields checked, with a unique non-empty ``key``."""
        out: list[tuple[dict[str, Any], int | None, str]] = []
        seen: dict[str, int | None] = {}
        for i, (entry, line) in enumerate(self.entries(raw, table)):
            label = f"[[{table}]] #{i + 1}"
            self.check_fields(table, entry, line, label)
            name = entry[key]
            if not name.strip():
                raise self.fail(f"{label}: {key!r} must not be empty", self.where.key(line, key))
            label = f"{table} {name!r}"
            if name in seen:
                raise self.fail(
                    f"{label}: duplicate {key} (first defined at line {seen[name]})",
                    self.where.key(line, key),
                )
            seen[name] = line
            out.append((entry, line, label))
        return out

    def ref(
        self,
        entry: dict[str, Any],
        field: str,
        what: str,
        valid: Sequence[str],
        line: int | None,
        label: str,
    ) -> str:
        value: str = entry[field]
        if value not in valid:
            raise self.unknown(what, label, value, valid, self.where.key(line, field, value))
        return value

    def strings(self, entry: dict[str, Any], field: str, line: int | None, label: str) -> list[str]:
        values: list[Any] = entry[field]
        for v in values:
            if not isinstance(v, str):
                raise self.fail(
                    f"{label}: every value of {field!r} must be a string, got {v!r}",
                    self.where.key(line, field),
                )
        if len(set(values)) != len(values):
            dup = next(v for v in values if values.count(v) > 1)
            raise self.fail(
                f"{label}: {field!r} lists {dup!r} twice", self.where.key(line, field, dup)
            )
        return values

    # -- the whole policy -----------------------------------------------------------------------

    def load(self) -> Policy:
        raw = self.parse()
        for top in raw:
            if top not in _TOP_LEVEL:
                line = self.where.table(top) or self.where.key(0, top)
                raise self.unknown("top-level table", "policy", top, _TOP_LEVEL, line)
        notice = Notice(**self.single(raw, "notice"))
        if notice.advance_notice_days < 0:
            line = self.where.key(self.where.table("notice"), "advance_notice_days")
            raise self.fail("[notice] advance_notice_days must not be negative", line)
        publisher = Publisher(**self.single(raw, "publisher"))

        notes = [
            Note(e["key"], e["mark"], e["text_ja"], e["text_en"], e.get("url"))
            for e, _, _ in self.keyed(raw, "note")
        ]
        note_keys = [n.key for n in notes]

        def note_ref(e: dict[str, Any], line: int | None, label: str) -> str | None:
            if "note" not in e:
                return None
            return self.ref(e, "note", "note", note_keys, line, label)

        kinds = []
        for e, line, label in self.keyed(raw, "party_kind"):
            joint = e.get("joint_use", True)
            if joint and "number" not in e:
                raise self.fail(f"{label}: a party kind of joint use needs its number", line)
            kinds.append(
                PartyKind(
                    e["key"],
                    e["label_ja"],
                    e["label_en"],
                    e.get("number", 0) if joint else 0,
                    note_ref(e, line, label),
                    joint,
                )
            )
        purposes = []
        for e, line, label in self.keyed(raw, "purpose"):
            joint = e.get("joint_use", True)
            if joint and "number" not in e:
                raise self.fail(f"{label}: a purpose of joint use needs its number", line)
            if not joint and not (e.get("legal_basis_ja") and e.get("legal_basis_en")):
                raise self.fail(
                    f"{label}: a purpose outside joint use (joint_use = false) needs "
                    "legal_basis_ja and legal_basis_en",
                    line,
                )
            purposes.append(
                Purpose(
                    e["key"],
                    e["label_ja"],
                    e["label_en"],
                    e.get("number", 0) if joint else 0,
                    note_ref(e, line, label),
                    joint,
                    e.get("legal_basis_ja"),
                    e.get("legal_basis_en"),
                )
            )
        for table, numbers in (
            ("party_kind", [k.number for k in kinds if k.joint_use]),
            ("purpose", [p.number for p in purposes if p.joint_use]),
        ):
            for idx, number in enumerate(numbers):
                if number in numbers[:idx]:
                    line = self.where.key(self.where.table(table, idx), "number")
                    raise self.fail(f"[[{table}]] #{idx + 1}: number {number} used twice", line)
        categories: list[Category] = []
        for e, line, label in self.keyed(raw, "category"):
            c = Category(
                e["key"],
                e["label_ja"],
                e["label_en"],
                e.get("number"),
                e.get("joint_use", True),
                e.get("legal_basis_ja"),
                e.get("legal_basis_en"),
            )
            categories.append(c)
            if not c.joint_use and not (c.legal_basis_ja and c.legal_basis_en):
                raise self.fail(
                    f"{label}: a category outside joint use (joint_use = false) needs "
                    "legal_basis_ja and legal_basis_en",
                    line,
                )
        cat_keys = [c.key for c in categories]
        items = [
            Item(
                e["key"],
                e["label_ja"],
                e["label_en"],
                self.ref(e, "category", "category", cat_keys, line, label),
            )
            for e, line, label in self.keyed(raw, "item")
        ]
        item_keys = [it.key for it in items]
        for c in categories:
            if not any(it.category == c.key for it in items):
                raise self.fail(
                    f"category {c.key!r} has no [[item]]",
                    self.where.table("category", cat_keys.index(c.key)),
                )
        relations = [
            Relation(e["key"], e["label_ja"], e["label_en"], e.get("after_end_days"))
            for e, _, _ in self.keyed(raw, "relation")
        ]
        rel_keys = [r.key for r in relations]
        kind_keys = [k.key for k in kinds]

        controllers = self.controllers(raw, cat_keys, kind_keys, rel_keys)
        rules = self.rules(
            raw, [p.key for p in purposes], kind_keys, rel_keys, cat_keys, items, item_keys
        )
        return Policy(
            source=self.file,
            notice=notice,
            publisher=publisher,
            party_kinds=tuple(kinds),
            purposes=tuple(purposes),
            categories=tuple(categories),
            items=tuple(items),
            relations=tuple(relations),
            controllers=controllers,
            rules=rules,
            notes=tuple(notes),
        )

    def controllers(
        self,
        raw: dict[str, Any],
        cat_keys: Sequence[str],
        kind_keys: Sequence[str],
        rel_keys: Sequence[str],
    ) -> tuple[Controller, ...]:
        out: list[Controller] = []
        seen: dict[str, int | None] = {}
        for i, (e, line) in enumerate(self.entries(raw, "controller")):
            label = f"[[controller]] #{i + 1}"
            self.check_fields("controller", e, line, label)
            category = self.ref(e, "category", "category", cat_keys, line, label)
            label = f"controller of {category!r}"
            if category in seen:
                raise self.fail(
                    f"{label}: duplicate controller (first defined at line {seen[category]})",
                    self.where.key(line, "category"),
                )
            seen[category] = line
            kind = self.ref(e, "party_kind", "party kind", kind_keys, line, label)
            relation = self.ref(e, "relation", "relation", rel_keys, line, label)
            exceptions: list[ControllerException] = []
            for j, x in enumerate(e.get("exception", [])):
                xline = self.where.sub_table("controller", i, "controller.exception", j)
                xlabel = f"{label}, exception #{j + 1}"
                if not isinstance(x, dict):
                    raise self.fail(f"{xlabel}: must be a table [[controller.exception]]", xline)
                self.check_fields("controller.exception", x, xline, xlabel)
                kinds_ = self.strings(x, "contract_kinds", xline, xlabel)
                if not kinds_:
                    raise self.fail(
                        f"{xlabel}: 'contract_kinds' must not be empty",
                        self.where.key(xline, "contract_kinds"),
                    )
                exceptions.append(
                    ControllerException(
                        contract_kinds=frozenset(kinds_),
                        party_kind=self.ref(
                            x, "party_kind", "party kind", kind_keys, xline, xlabel
                        ),
                        relation=self.ref(x, "relation", "relation", rel_keys, xline, xlabel),
                        label_ja=x["label_ja"],
                        label_en=x["label_en"],
                    )
                )
            out.append(
                Controller(
                    category, kind, relation, e["label_ja"], e["label_en"], tuple(exceptions)
                )
            )
        return tuple(out)

    def rules(
        self,
        raw: dict[str, Any],
        purpose_keys: Sequence[str],
        kind_keys: Sequence[str],
        rel_keys: Sequence[str],
        cat_keys: Sequence[str],
        items: Sequence[Item],
        item_keys: Sequence[str],
    ) -> tuple[Rule, ...]:
        refs = [*item_keys, *(f"{c}.*" for c in cat_keys)]
        out: list[Rule] = []
        for e, line, label in self.keyed(raw, "rule", key="id"):
            purpose = self.ref(e, "purpose", "purpose", purpose_keys, line, label)
            kind = self.ref(e, "party_kind", "party kind", kind_keys, line, label)
            rels = self.strings(e, "relations", line, label)
            if not rels:
                raise self.fail(
                    f"{label}: 'relations' must name at least one relation",
                    self.where.key(line, "relations"),
                    rel_keys,
                )
            for r in rels:
                if r not in rel_keys:
                    raise self.unknown(
                        "relation", label, r, rel_keys, self.where.key(line, "relations", r)
                    )
            expanded: dict[str, frozenset[str]] = {}
            for action in ("read", "write"):
                keys: set[str] = set()
                for ref in self.strings(e, action, line, f"{label} ({action})"):
                    at = self.where.key(line, action, ref)
                    if ref.endswith(".*"):
                        if ref not in refs:
                            raise self.unknown("item", label, ref, refs, at, f" in {action}")
                        keys.update(it.key for it in items if it.category == ref[:-2])
                    elif ref in item_keys:
                        keys.add(ref)
                    else:
                        raise self.unknown("item", label, ref, refs, at, f" in {action}")
                expanded[action] = frozenset(keys)
            if not expanded["read"] and not expanded["write"]:
                raise self.fail(f"{label}: grants nothing (read and write are both empty)", line)
            if ("legal_basis_ja" in e) != ("legal_basis_en" in e):
                raise self.fail(f"{label}: give both legal_basis_ja and legal_basis_en", line)
            rule = Rule(
                id=e["id"],
                purpose=purpose,
                party_kind=kind,
                relations=frozenset(rels),
                read=expanded["read"],
                write=expanded["write"],
                legal_basis_ja=e.get("legal_basis_ja"),
                legal_basis_en=e.get("legal_basis_en"),
                line=line,
            )
            for other in out:
                shared = rule.relations & other.relations
                if other.purpose == purpose and other.party_kind == kind and shared:
                    raise self.fail(
                        f"{label}: overlaps rule {other.id!r} (line {other.line}) for purpose "
                        f"{purpose!r}, party kind {kind!r} and relation(s) "
                        f"{', '.join(sorted(shared))}; merge them into one rule",
                        line,
                    )
            out.append(rule)
        return tuple(out)


def parse_policy(text: str, *, file: str = POLICY_FILE) -> Policy:
    """Parse and validate a policy from TOML ``text``; ``file`` names it in errors."""
    return _Loader(text, file).load()


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate the policy at ``path`` (``None``: the shipped ``data/policy.toml``).

    Raises :class:`ConfigError` (file, line, valid choices) on any problem.
    """
    if path is None:
        resource = resources.files("jointuse") / "data" / POLICY_FILE
        return parse_policy(resource.read_text(encoding="utf-8"), file=str(resource))
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy file: {exc.strerror}", file=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"policy file is not UTF-8: {exc}", file=str(p)) from exc
    return parse_policy(text, file=str(p))


@functools.cache
def default_policy() -> Policy:
    """The shipped policy, loaded and validated once (cached)."""
    return load_policy()
