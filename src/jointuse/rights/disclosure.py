"""The disclosure document (開示, APPI Art. 33): what is held about the customer, per category,
with its controller (管理責任者), the access record, and the provision records of consent-based
flows — in JSON, CSV or PDF.

Everything is read within the customer's own tenure of each proven record (their customer record
at the point, over the contract's period): the data through the gate's subject door
(:meth:`jointuse.access.gate.Gate.subject_read`, purpose ``subject:disclosure``), the access
record through :func:`jointuse.rights.access_log.access_log` (its reading on the ledger as
``subject:access_log``). A new occupant of a point never sees the previous one's data, nor the
other way round.

The PDF is drawn with reportlab and its built-in CID font ``HeiseiKakuGo-W5`` (Japanese text
without any font file or download).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from jointuse.access.gate import Gate
from jointuse.access.relations import TargetRef
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.rights.access_log import access_log
from jointuse.rights.identity import Account, Link, links
from jointuse.rights.requests import CATEGORIES, RightsRequest, controllers, tenure

PURPOSE = "subject:disclosure"


def _names(code: str, party_names: dict[str, tuple[str, str]]) -> dict[str, str]:
    ja, en = party_names.get(code, (code, code))
    return {"code": code, "name_ja": ja, "name_en": en}


def _provisions(
    uow: UnitOfWork, link: Link, party_names: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """Consent-based provisions (the customer's DR agreements, 需要抑制に関する契約): to whom,
    from when, withdrawn when — within the tenure; and each provision made on the customer's
    usage-inquiry consents (使用量情報照会, the APPI Art. 29 record: recipient, the person acting
    for it, items, data period, the consent, when), made within the tenure."""
    from jointuse.negawatt.tables import dr_agreement
    from jointuse.usage.inquiry import provisions_of

    rows = uow.connection.execute(
        select(dr_agreement).where(
            dr_agreement.c.customer_id == link.customer_id,
            dr_agreement.c.supply_point_id == link.supply_point_id,
        )
    ).all()
    out = []
    for r in rows:
        m = r._mapping
        out.append(
            {
                "basis": "consent (DR agreement)",
                "basis_ja": "本人の同意（需要抑制に関する契約）",
                "recipient": _names(m["contractor_code"], party_names),
                "agreed_on": m["agreed_on"].isoformat(),
                "expires_on": m["expires_on"].isoformat() if m["expires_on"] else None,
                "withdrawn_at": m["withdrawn_at"].isoformat() if m["withdrawn_at"] else None,
                "scope": m["scope"],
            }
        )
    start, end = tenure(link)
    for p in provisions_of(
        uow.connection, link.customer_id, link.supply_point_id, since=start, until=end
    ):
        out.append(
            {
                "basis": "consent (usage inquiry)",
                "basis_ja": "本人の同意（使用量情報照会）",
                "recipient": _names(p["recipient"], party_names),
                **{k: v for k, v in p.items() if k != "recipient"},
            }
        )
    return out


def build(
    uow: UnitOfWork,
    gate: Gate,
    account: Account,
    request: RightsRequest,
    *,
    party_names: dict[str, tuple[str, str]],
    at: datetime,
) -> dict[str, Any]:
    """The document's content (JSON-ready)."""
    policy = gate.policy
    labels = {c.key: (c.label_ja, c.label_en) for c in policy.categories}
    item_labels = {i.key: (i.label_ja, i.label_en) for i in policy.items}
    records = []
    for link in links(uow.connection, account):
        start, end = tenure(link)
        target = TargetRef(supply_point_id=link.supply_point_id, customer_id=link.customer_id)
        categories: dict[str, Any] = {}
        for category in CATEGORIES:
            held: dict[str, Any] | None
            try:
                held = gate.subject_read(
                    uow,
                    subject=f"customer:{account.id}",
                    purpose=PURPOSE,
                    target=target,
                    categories=(category,),
                    valid_from=start,
                    valid_to=end,
                    request_id=request.id,
                    at=at,
                ).data
            except NotFound:
                held = None
            if category == "negawatt" and held is not None and not any(held.values()):
                held = None
            ja, en = labels.get(category, (category, category))
            categories[category] = {
                "label_ja": ja,
                "label_en": en,
                "controllers": [
                    _names(code, party_names)
                    for code in controllers(uow.connection, policy, link, category, at)
                ],
                "held": held is not None,
                "items": [
                    {
                        "item": key,
                        "label_ja": item_labels.get(key, (key, key))[0],
                        "label_en": item_labels.get(key, (key, key))[1],
                        "value": value,
                    }
                    for key, value in (held or {}).items()
                ],
            }
        records.append(
            {
                "customer_id": link.customer_id,
                "supply_point_id": link.supply_point_id,
                "retailer": _names(link.retailer_code, party_names),
                "contract_number": link.contract_number,
                "from": link.valid_from.isoformat(),
                "to": link.valid_to.isoformat() if link.valid_to else None,
                "categories": categories,
                "provision_records": _provisions(uow, link, party_names),
            }
        )
    record_of_access = access_log(
        uow.connection,
        account=account,
        policy=policy,
        party_names=party_names,
        at=at,
        request_id=request.id,
    )
    return {
        "title_ja": "保有個人データの開示",
        "title_en": "Disclosure of retained personal data (APPI Art. 33)",
        "request_id": request.id,
        "received_at": request.received_at.isoformat(),
        "prepared_at": at.isoformat(),
        "publisher": {"code": policy.publisher.code, "name_ja": policy.publisher.name_ja}
        if policy.publisher
        else None,
        "records": records,
        "access_record": record_of_access["by_purpose"],
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _flat(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)


def rows(content: dict[str, Any]) -> list[list[str]]:
    """The document as rows: section, record, category, key, label (ja), value."""
    out = [["section", "supply_point_id", "category", "key", "label_ja", "value"]]
    for rec in content["records"]:
        point = rec["supply_point_id"]
        out.append(["record", point, "", "tenure", "期間", f"{rec['from']}..{rec['to'] or ''}"])
        for cat, body in rec["categories"].items():
            names = ", ".join(f"{c['name_ja']} ({c['code']})" for c in body["controllers"])
            out.append(["controller", point, cat, "controller", "管理責任者", names])
            if not body["held"]:
                out.append(["data", point, cat, "", "保有なし", "not held"])
            for it in body["items"]:
                out.append(["data", point, cat, it["item"], it["label_ja"], _flat(it["value"])])
        for p in rec["provision_records"]:
            out.append(["provision", point, "", p["recipient"]["code"], p["basis_ja"], _flat(p)])
    for purpose, entries in content["access_record"].items():
        for e in entries:
            items = " ".join(i["item"] for i in e["items"])
            if e.get("data_from") or e.get("data_to"):  # the dates of the data it opened
                items += f" data {e.get('data_from') or '..'}/{e.get('data_to') or '..'}"
            out.append(
                [
                    "access",
                    e.get("supply_point_id") or "",
                    purpose,
                    e["party"],
                    e["party_name_ja"],
                    f"{e['at']} {e['action']} {e['decision']} {items}".strip(),
                ]
            )
    return out


def _pdf(content: dict[str, Any]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = "HeiseiKakuGo-W5"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(content["title_en"])
    width, height = A4
    margin, size = 40.0, 9.0
    y = height - margin

    def line(text: str, bold: bool = False) -> None:
        nonlocal y
        fsize = size + 3 if bold else size
        wrapped: list[str] = []
        current = ""
        for ch in text:
            if pdfmetrics.stringWidth(current + ch, font, fsize) > width - 2 * margin:
                wrapped.append(current)
                current = ""
            current += ch
        wrapped.append(current)
        for part in wrapped:
            if y < margin:
                pdf.showPage()
                y = height - margin
            pdf.setFont(font, fsize)
            pdf.drawString(margin, y, part)
            y -= fsize + 3

    line(f"{content['title_ja']} / {content['title_en']}", bold=True)
    line(f"請求番号 request {content['request_id']}  受付 {content['received_at']}")
    line(f"作成 prepared {content['prepared_at']}")
    for row in rows(content)[1:]:
        section, point, cat, key, label, value = row
        if section == "record":
            y -= 6
            line(f"供給地点 {point}  期間 {value}", bold=True)
        else:
            line(f"[{section}] {cat} {key} {label}: {value}")
    pdf.save()
    return buffer.getvalue()


def render(content: dict[str, Any], fmt: str) -> bytes:
    """The document in ``fmt``: ``json`` (UTF-8), ``csv`` (UTF-8 with BOM, for spreadsheet
    programs that read Japanese), or ``pdf``."""
    if fmt == "json":
        return json.dumps(content, ensure_ascii=False, indent=2, default=_json_default).encode()
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(rows(content))
        return ("\ufeff" + out.getvalue()).encode()
    if fmt == "pdf":
        return _pdf(content)
    raise ValueError(f"unknown format {fmt!r}")


MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
}
