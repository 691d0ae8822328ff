"""Write the joint-use notice (共同利用に関する公表事項) out of the policy, and nothing else.

Every sentence of substance comes from the policy file: title, preamble, the party kinds
(共同利用する者の範囲), purposes (共同利用の目的), items per joint-use category
(共同利用する情報項目), controllers (管理責任者) with their exceptions, the notes (※1…) and the
publisher's name, address and representative. The templates under ``jointuse/templates`` only
give the numbering, the section headings and the layout of each format (txt, md, html).
Categories and purposes with ``joint_use = false`` are not part of the notice and are left out.

Notes are placed where the policy references them (a party kind's or purpose's ``note``); notes
that nothing references attach to the scope statement of section 1 (as ※1 does in the seed notice).
An empty publisher address or representative is rendered as a visible :data:`NOT_STATED` marker,
never hidden: ``jointuse policy check`` reports it as a gap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

import jinja2

from jointuse.core.errors import ValidationError
from jointuse.parties.reference import load_reference
from jointuse.policy.model import Category, Lang, Note, Policy

Format = Literal["txt", "md", "html"]
FORMATS: tuple[str, ...] = get_args(Format)
LANGS: tuple[str, ...] = get_args(Lang)

NOT_STATED = "（未記載 / not stated）"
"""Shown in place of a required value the policy leaves empty."""

NOTE_PLACEHOLDERS = frozenset({"publisher", "tsos"})
"""Placeholders a note's text may use: ``{publisher}`` (publisher's name), ``{tsos}`` (the ten
TSOs' official names, from the reference data)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "h_scope": "1.共同利用する者の範囲",
        "scope_intro": (
            "{publisher}は以下の者との間でお客様の個人情報を共同で利用することがあります"
        ),
        "h_purposes": "2.共同利用の目的",
        "h_items": "3.共同利用する情報項目",
        "h_controllers": "4.共同利用の管理責任者",
        "h_publisher": "5.本件に関する事業者の名称、住所及び代表者の氏名",
        "name": "名称",
        "address": "住所",
        "representative": "代表者",
        "colon": "：",
        "except_open": "（但し、",
        "except_close": "）",
        "h_notes": "注記",
        "h_law": "根拠",
        "h_version": "版",
        "h_effective": "施行日",
        "not_stated": "（未定）",
        "list_sep": "、",
    },
    "en": {
        "h_scope": "1. Scope of joint users",
        "scope_intro": (
            "{publisher} may use customers' personal information jointly with the following"
        ),
        "h_purposes": "2. Purposes of joint use",
        "h_items": "3. Items of personal data used jointly",
        "h_controllers": "4. Controllers responsible for the data",
        "h_publisher": "5. Name, address and representative of the publishing business",
        "name": "Name",
        "address": "Address",
        "representative": "Representative",
        "colon": ": ",
        "except_open": " (except: ",
        "except_close": ")",
        "h_notes": "Notes",
        "h_law": "Legal basis",
        "h_version": "Version",
        "h_effective": "Effective from",
        "not_stated": "(not stated)",
        "list_sep": ", ",
    },
}


@dataclass(frozen=True, slots=True)
class NoteRef:
    key: str
    mark: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One numbered line "(n) text ※k tail"."""

    number: int
    text: str
    notes: tuple[NoteRef, ...] = ()
    tail: str = ""


@dataclass(frozen=True, slots=True)
class PublisherField:
    label: str
    value: str
    stated: bool


@dataclass(frozen=True, slots=True)
class RenderedNote:
    key: str
    mark: str
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class NoticeView:
    """Everything a template needs, already in one language."""

    lang: Lang
    title: str
    preamble: str
    law: str
    version: str
    effective: str
    scope_intro: str
    scope_notes: tuple[NoteRef, ...]
    party_kinds: tuple[Entry, ...]
    purposes: tuple[Entry, ...]
    items: tuple[Entry, ...]
    controllers: tuple[Entry, ...]
    publisher: tuple[PublisherField, ...]
    notes: tuple[RenderedNote, ...]
    text: dict[str, str]


def join_names(names: Iterable[str], lang: Lang) -> str:
    """ "A、B及びC" in Japanese, "A, B and C" in English."""
    seq = list(names)
    if len(seq) <= 1:
        return "".join(seq)
    if lang == "ja":
        return "、".join(seq[:-1]) + "及び" + seq[-1]
    return ", ".join(seq[:-1]) + " and " + seq[-1]


def tso_names(lang: Lang) -> tuple[str, ...]:
    """Official names of the ten TSOs, in area order (from the reference data)."""
    ref = load_reference()
    by_code = {p.code: p for p in ref.parties}
    parties = (by_code[area.tso] for area in ref.areas)
    return tuple(p.name_ja if lang == "ja" else p.name_en for p in parties)


def note_placeholders(note: Note) -> frozenset[str]:
    """The ``{placeholder}`` names used in either language of ``note``."""
    return frozenset(_PLACEHOLDER.findall(note.text_ja) + _PLACEHOLDER.findall(note.text_en))


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace known ``{placeholders}``; unknown ones stay visible (``policy check`` flags them).

    A value ending in "." followed by "." in the text ("…, Inc.." ) keeps one full stop.
    """
    out: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        out.append(text[pos : m.start()])
        value = values.get(m.group(1), m.group(0))
        if value.endswith(".") and text[m.end() : m.end() + 1] == ".":
            value = value[:-1]
        out.append(value)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _note_refs(policy: Policy, key: str | None) -> tuple[NoteRef, ...]:
    if key is None:
        return ()
    try:
        return (NoteRef(key=key, mark=policy.note(key).mark),)
    except KeyError:
        # A dangling reference stays visible; `policy check` reports it as an error.
        return (NoteRef(key=key, mark=f"※[{key}?]"),)


def _split_tail(label: str, lang: Lang, has_notes: bool) -> tuple[str, str]:
    """Japanese purposes end with "…のため"; the seed notice puts the note mark before it."""
    if lang == "ja" and has_notes and label.endswith("のため"):
        return label[: -len("のため")], "のため"
    return label, ""


def _publisher_name(policy: Policy, lang: Lang) -> str:
    return policy.publisher.name_ja if lang == "ja" else policy.publisher.name_en


def _joint_use_categories(policy: Policy) -> list[tuple[int, Category]]:
    cats = [c for c in policy.categories if c.joint_use]
    numbered = sorted(enumerate(cats, start=1), key=lambda ic: (ic[1].number or ic[0], ic[0]))
    return [(c.number or i, c) for i, c in numbered]


def notice_view(policy: Policy, lang: Lang) -> NoticeView:
    """Build the language-specific content of the notice from ``policy``."""
    if lang not in LANGS:
        raise ValidationError(
            f"unknown language {lang!r}; valid: {', '.join(LANGS)}", field="lang", valid=LANGS
        )
    text = _TEXT[lang]
    publisher = _publisher_name(policy, lang)
    values = {"publisher": publisher, "tsos": join_names(tso_names(lang), lang)}

    joint_kinds = [k for k in policy.party_kinds if k.joint_use]
    referenced = {pk.note for pk in joint_kinds} | {p.note for p in policy.purposes}
    scope_notes = tuple(NoteRef(n.key, n.mark) for n in policy.notes if n.key not in referenced)

    party_kinds = tuple(
        Entry(number=pk.number or i, text=pk.label(lang), notes=_note_refs(policy, pk.note))
        for i, pk in enumerate(sorted(joint_kinds, key=lambda k: k.number), start=1)
    )
    purposes = []
    joint_purposes = [p for p in policy.purposes if p.joint_use]
    for i, p in enumerate(sorted(joint_purposes, key=lambda k: k.number), start=1):
        refs = _note_refs(policy, p.note)
        head, tail = _split_tail(p.label(lang), lang, bool(refs))
        purposes.append(Entry(number=p.number or i, text=head, notes=refs, tail=tail))

    items = []
    controllers = []
    for number, cat in _joint_use_categories(policy):
        names = [it.label(lang) for it in policy.items_of(cat.key)]
        listed = text["list_sep"].join(names) if names else NOT_STATED
        items.append(Entry(number=number, text=f"{cat.label(lang)}{text['colon']}{listed}"))
        ctrl = policy.controller_of(cat.key)
        if ctrl is None:
            who = NOT_STATED
        else:
            who = ctrl.label_ja if lang == "ja" else ctrl.label_en
            for exc in ctrl.exceptions:
                exc_label = exc.label_ja if lang == "ja" else exc.label_en
                who += f"{text['except_open']}{exc_label}{text['except_close']}"
        controllers.append(Entry(number=number, text=f"{cat.label(lang)}{text['colon']}{who}"))

    pub = policy.publisher
    publisher_fields = tuple(
        PublisherField(
            label=text[label], value=value.strip() or NOT_STATED, stated=bool(value.strip())
        )
        for label, value in (
            ("name", publisher),
            ("address", pub.address),
            ("representative", pub.representative),
        )
    )
    notes = tuple(
        RenderedNote(
            key=n.key,
            mark=n.mark,
            text=_fill(n.text_ja if lang == "ja" else n.text_en, values),
            url=n.url,
        )
        for n in policy.notes
    )
    notice = policy.notice
    return NoticeView(
        lang=lang,
        title=notice.title_ja if lang == "ja" else notice.title_en,
        preamble=notice.preamble_ja if lang == "ja" else notice.preamble_en,
        law=notice.law_ja if lang == "ja" else notice.law_en,
        version=notice.version,
        effective=notice.effective_from.isoformat()
        if notice.effective_from
        else text["not_stated"],
        scope_intro=text["scope_intro"].format(publisher=publisher),
        scope_notes=scope_notes,
        party_kinds=party_kinds,
        purposes=tuple(purposes),
        items=tuple(items),
        controllers=tuple(controllers),
        publisher=publisher_fields,
        notes=notes,
        text=text,
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("jointuse", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_notice(policy: Policy, *, lang: Lang = "ja", fmt: Format = "txt") -> str:
    """The notice of ``policy`` in ``lang`` ("ja"/"en") and ``fmt`` ("txt"/"md"/"html")."""
    if fmt not in FORMATS:
        raise ValidationError(
            f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}", field="format", valid=FORMATS
        )
    view = notice_view(policy, lang)
    template = _environment().get_template(f"notice.{fmt}")
    return template.render(v=view, not_stated=NOT_STATED)
