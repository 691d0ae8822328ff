"""The automatic judgement of a 廃止取次: what was forwarded against the old retailer's own record.

The new retailer forwards the old contract's number, the contract holder's name (契約名義) and the
address of the point (需要場所住所) as the customer gave them; the old retailer holds them as it
registered them. They differ in ways that do not make them different — this module normalises
those away and judges what is left, field by field, with a score, so the old retailer's screen
can show why (and the decision is recorded with the judgement):

* width and form: NFKC (full-width ↔ half-width letters and digits, half-width kana), hiragana
  → katakana (``jaconv``), small kana kept apart (ァ ≠ ア), long-vowel marks and hyphen
  look-alikes unified, every space (U+3000 included) dropped, honorifics (様, さま, 殿) dropped;
* old and new kanji forms (旧字体・異体字: 髙/高, 﨑/崎, 邊/邉/辺, 澤/沢, 齋/斎 …), compared
  character by character through the variant families of ``ja-itaiji``;
* addresses: block numbers in kanji read as numbers (``kanjize``: 二十三番 → 23番; a place
  name's numerals, 千代田 or 六本木, stay as they are); 丁目, 番地, 番, 号 and
  の as separators, so 一丁目二番三号 = 1丁目2番3号 = 1-2-3 = １－２－３ = 1の2の3; 大字 and 字
  dropped; a prefecture present on one side only ignored; a trailing building or room part
  compared only when both sides give one (a missing building name is not a difference, a
  different room number is).

Outcomes per field: ``exact`` (equal as given), ``equivalent`` (equal after normalisation),
``mismatch``. The judgement is OK only when the contract exists at the point, is not ending,
and the name and the address are exact or equivalent; otherwise NG with the reason codes of
:class:`jointuse.flows.model.NgReason`. A different person at the same address is a name
mismatch: kana readings alone never make two different kanji names equivalent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import jaconv
import kanjize
from ja_itaiji import Itaiji
from rapidfuzz import fuzz

from jointuse.customers.model import RetailContract
from jointuse.flows.model import NgReason

_SPACES = re.compile(r"[\s\u3000]+")
_DASHES = re.compile(r"[‐‑‒–—―−ｰ－\-]")
_HONORIFIC = re.compile(r"(様|さま|サマ|殿)$")
# Kanji numerals that number a block (before 丁目, 番地, 番, 号, の, a dash or the end), not
# those of a place name (千代田, 六本木, 三軒茶屋 keep theirs).
_KANJI_NUMBER = re.compile(r"[〇一二三四五六七八九十百千]+(?=丁目|番地|番|号|の|ノ|-|$)")
_SEPARATORS = re.compile(r"(丁目|番地|番|号|の|ノ)")
_OAZA = re.compile(r"(大字|字)")
_BLOCK = re.compile(r"\d+(?:-\d+)+")  # 丁目-番地-号: the end of the street part
_NUMBER = re.compile(r"\d+")
_PREFECTURE = re.compile(r"^(東京都|北海道|(?:京都|大阪)府|.{2,3}県)")


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Thresholds: a score is reported for every field; these decide nothing on their own —
    outcomes come from normalised equality — but a name or address scoring below
    ``review_below`` is flagged for the old retailer's attention."""

    review_below: float = 0.9


DEFAULT = MatchSettings()


@dataclass(frozen=True, slots=True)
class FieldMatch:
    field: str
    forwarded: str
    record: str
    outcome: str  # exact | equivalent | mismatch
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "forwarded": self.forwarded,
            "record": self.record,
            "outcome": self.outcome,
            "score": round(self.score, 3),
        }


def _normalise_once(text: str) -> str:
    value = unicodedata.normalize("NFKC", text)
    value = jaconv.hira2kata(value)
    value = _SPACES.sub("", value)
    value = _DASHES.sub("-", value)
    return _HONORIFIC.sub("", value)


@lru_cache(maxsize=65536)
def normalise_text(text: str) -> str:
    """Width, kana form, spaces, dashes and honorifics normalised (see the module docstring);
    repeated until nothing changes (removing a space can leave a combining mark for NFKC to
    compose), so normalising twice gives the same as once."""
    value = _normalise_once(text)
    for _ in range(8):
        again = _normalise_once(value)
        if again == value:
            break
        value = again
    return value


def _kanji_numbers(text: str) -> str:
    def number(m: re.Match[str]) -> str:
        try:
            return str(kanjize.kanji2number(m.group()))
        except Exception:  # not a number after all (e.g. a place name's 一)
            return m.group()

    return _KANJI_NUMBER.sub(number, text)


@lru_cache(maxsize=65536)
def normalise_address(text: str) -> tuple[str, str]:
    """(street part, building part): numerals, separators and prefixes normalised."""
    value = normalise_text(text)
    value = re.sub(r"(?<=\d)ー(?=\d)", "-", value)  # a long-vowel mark typed as a dash
    value = _OAZA.sub("", value)
    value = _kanji_numbers(value)
    value = _SEPARATORS.sub("-", value)
    value = re.sub(r"-+", "-", value)
    value = re.sub(r"-(?=\D)", "", value)  # a separator before a building name
    found = _BLOCK.search(value) or _NUMBER.search(value)
    if found is None:
        return value.strip("-"), ""
    return value[: found.end()].strip("-"), value[found.end() :].strip("-")


def _same_chars(a: str, b: str) -> bool:
    """Equal, or equal character by character up to kanji variants (異体字)."""
    return a == b or Itaiji.is_similar(a, b)


def _score(a: str, b: str) -> float:
    return float(fuzz.ratio(a, b)) / 100.0


def match_name(forwarded: str, record: str) -> FieldMatch:
    a, b = normalise_text(forwarded), normalise_text(record)
    if forwarded == record:
        outcome = "exact"
    elif _same_chars(a, b):
        outcome = "equivalent"
    else:
        outcome = "mismatch"
    return FieldMatch("name", a, b, outcome, 1.0 if outcome != "mismatch" else _score(a, b))


def _strip_prefecture(street: str, other: str) -> tuple[str, str]:
    pa, pb = _PREFECTURE.match(street), _PREFECTURE.match(other)
    if pa and not pb:
        street = street[pa.end() :]
    elif pb and not pa:
        other = other[pb.end() :]
    return street, other


def match_address(forwarded: str, record: str) -> FieldMatch:
    (sa, ba), (sb, bb) = normalise_address(forwarded), normalise_address(record)
    sa, sb = _strip_prefecture(sa, sb)
    same_street = _same_chars(sa, sb)
    same_building = not ba or not bb or _same_chars(ba, bb)
    a, b = f"{sa} {ba}".strip(), f"{sb} {bb}".strip()
    if forwarded == record:
        outcome = "exact"
    elif same_street and same_building:
        outcome = "equivalent"
    else:
        outcome = "mismatch"
    return FieldMatch("address", a, b, outcome, 1.0 if outcome != "mismatch" else _score(a, b))


def _address_text(item: Any) -> str:
    if isinstance(item, dict):
        return f"{item.get('prefecture') or ''}{item.get('rest') or ''}"
    return str(item or "")


def _postal(item: Any) -> str | None:
    return str(item.get("postal_code")) if isinstance(item, dict) else None


def _name_text(item: Any) -> tuple[str, str]:
    if isinstance(item, dict):
        return str(item.get("kanji") or ""), str(item.get("kana") or "")
    return str(item or ""), ""


def judge(
    *,
    forwarded: dict[str, object],
    record: dict[str, object] | None,
    contract: RetailContract | None,
    point: str,
    wished_date: date | None,
    settings: MatchSettings = DEFAULT,
) -> tuple[str, list[str], dict[str, Any]]:
    """``("ok" | "ng", reason codes, per-field match)`` for one 廃止取次 (module docstring)."""
    reasons: list[str] = []
    fields: dict[str, Any] = {}
    if contract is None:
        reasons.append(NgReason.NO_SUCH_CONTRACT.value)
    elif contract.supply_point_id.value != point:
        reasons.append(NgReason.CONTRACT_NOT_AT_POINT.value)
    elif contract.valid_to is not None and (
        wished_date is None or contract.valid_to <= wished_date
    ):
        reasons.append(NgReason.CONTRACT_ALREADY_ENDING.value)
    if record is not None:
        kanji_f, _kana_f = _name_text(forwarded.get("name"))
        kanji_r, _kana_r = _name_text(record.get("name"))
        name = match_name(kanji_f, kanji_r)
        address = match_address(
            _address_text(forwarded.get("address")), _address_text(record.get("address"))
        )
        postal_f, postal_r = _postal(forwarded.get("address")), _postal(record.get("address"))
        fields = {"name": name.as_dict(), "address": address.as_dict()}
        fields["address"]["postal_code_matches"] = postal_f == postal_r
        if name.outcome == "mismatch":
            reasons.append(NgReason.NAME_MISMATCH.value)
        if address.outcome == "mismatch":
            reasons.append(NgReason.ADDRESS_MISMATCH.value)
        review = [f for f, m in fields.items() if m["score"] < settings.review_below]
        if review:
            fields["review"] = review
    fields["contract_number"] = {
        "forwarded": forwarded.get("contract_number"),
        "outcome": "exact" if contract is not None else "mismatch",
    }
    return ("ng" if reasons else "ok"), reasons, fields
