"""The automatic judgement of a 廃止取次: what was forwarded against the old retailer's own record.

The new retailer forwards the old contract's number, the contract holder's name (契約名義, with its
kana reading where given) and the address of the point (需要場所住所) as the customer gave them; the
old retailer holds them as it registered them. They differ in ways that do not make them
different — this module normalises those away and judges what is left, field by field, with a
score, so the old retailer's screen can show why (and the decision is recorded with the
judgement):

* width and form: NFKC (full-width ↔ half-width letters and digits, half-width kana), hiragana
  → katakana (``jaconv``), small kana folded to full size (ァ → ア, ッ → ツ, ャ → ヤ: systems that
  keep names in half-width kana often have no small kana, ｷﾖｳｺ for キョウコ), long-vowel marks and
  hyphen look-alikes unified (ー after katakana in a name), middle dots (・) and every space
  (U+3000 included) dropped, honorifics (様, さま, 殿) and a trailing kana reading in brackets
  dropped, company forms written out ((株) / ㈱ → 株式会社, (有) → 有限会社, …);
* old and new kanji forms (旧字体・異体字: 髙/高, 﨑/嵜/崎, 邊/邉/辺, 澤/沢, 齋/斎, 濱/浜 …),
  compared character by character through the variant families of ``ja-itaiji``, plus the few
  it lacks (:data:`EXTRA_VARIANTS`: 斉/齊 with 斎/齋 as in everyday use, 𠮷/吉);
* addresses: a postal code typed in front dropped; block numbers in kanji read as numbers
  (``kanjize``: 二十三番 → 23番, 北一条 → 北1条; a place name's numerals, 千代田 or 六本木, stay as
  they are); 丁目, 番地, 番, 号, の and 棟 as separators, so 一丁目二番三号 = 1丁目2番3号 = 1-2-3 =
  １－２－３ = 1の2の3; 大字 and 字 dropped; ヶ/ケ/が/ガ between kanji as one (霞ヶ関 = 霞が関);
  Kyoto's street directions (寺町通御池上る) dropped; a prefecture present on one side only
  ignored;
* buildings: what follows the street number is the building part — a name and a room number
  (101, 101号室, 2号棟101 = 2-101, or a fourth block number 1-2-3-101). A part missing on one side
  is no difference (flagged for review); a different room number, or a different building name,
  is a mismatch.

Outcomes per field: ``exact`` (equal as given), ``equivalent`` (equal after normalisation),
``mismatch``; each with the normalised forms compared and a similarity score in [0, 1]
(``rapidfuzz`` ratio of those forms with kanji variants folded). The judgement is OK only when the
contract exists, is at the point, is not ending, the forwarded point is the flow's, and the name
and the address are exact or equivalent; otherwise NG with the reason codes of
:class:`jointuse.flows.model.NgReason`. Outcomes come from normalised equality, never from a score
threshold: scores below ``MatchSettings.review_below`` and parts missing on one side only flag the
field for the old retailer's review. A different person at the same address is a name mismatch:
kana readings alone never make two different kanji names equivalent (the kana reading is
compared and shown, and flags a review when it differs, but decides nothing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from functools import lru_cache
from typing import Any

import jaconv
import kanjize
from ja_itaiji import Itaiji
from rapidfuzz import fuzz

from jointuse.core.errors import ValidationError
from jointuse.customers.model import RetailContract, normalise_contract_number
from jointuse.flows.model import NgReason

_SPACES_DOTS = re.compile(r"[\s\u3000・･]+")
_DASHES = re.compile(r"[‐‑‒–—―−ｰ－\-]")
_HONORIFIC = re.compile(r"(様|サマ|殿)$")
_KANA_READING = re.compile(r"(?:\([ァ-ヺー]*\))+$")  # 山田太郎(ヤマダタロウ)
_COMPANY = {"(株)": "株式会社", "(有)": "有限会社", "(同)": "合同会社", "(資)": "合資会社"}
_COMPANY_FORM = re.compile("|".join(re.escape(k) for k in _COMPANY))
_SMALL_KANA = str.maketrans(
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
    "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
)
_KATAKANA_DASH = re.compile(r"(?<=[ァ-ヺ])-")
_POSTAL = re.compile(r"^〒?\s*\d{3}\s*[-‐−ー]?\s*\d{4}\s*")
_DIGIT_GAP = re.compile(r"(?<=\d)[\s\u3000]+(?=\d)")
_DIGIT_DASH = re.compile(r"(?<=\d)ー(?=\d)")
_DASH_RUN = re.compile(r"-+")
_DASH_BEFORE_TEXT = re.compile(r"-(?=\D)")
# Kanji numerals that number a block (before 丁目, 番地, 番, 号, の, 条, 線, 地割, 棟, a dash or
# the end), not those of a place name (千代田, 六本木, 三軒茶屋 keep theirs).
_KANJI_NUMBER = re.compile(
    r"[〇一二三四五六七八九十百千]+(?=丁目|番地|番|号|の|ノ|条|線|地割|棟|-|$)"
)
_SEPARATORS = re.compile(r"(丁目|番地|番|号|の|ノ|棟)")
_OAZA = re.compile(r"(大字|字)")
_GA = re.compile(r"(?<=[\u4e00-\u9fff])[ケガ个](?=[\u4e00-\u9fff])")  # 霞ヶ関 = 霞が関
_KYOTO_STREET = re.compile(r"(?<=区)[^区\d]*?通[^区\d]*?(?:[東西]?入ル|上ル|下ル)")
_BLOCK = re.compile(r"\d+(?:-\d+)+")  # 丁目-番地-号: the end of the street part
_NUMBER = re.compile(r"\d+")
_ROOM = re.compile(r"(\d+(?:-\d+)*)(?:室)?$")
_PREFECTURE = re.compile(r"^(東京都|北海道|(?:京都|大阪)府|.{2,3}県)")

#: Variant pairs ``ja-itaiji`` does not relate, treated as one character when comparing names.
EXTRA_VARIANTS: dict[str, str] = {"斉": "斎", "齊": "斎", "齋": "斎", "𠮷": "吉"}


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Thresholds: a score is reported for every field; it decides nothing on its own —
    outcomes come from normalised equality — but a field scoring below ``review_below`` (0.9 by
    default) is flagged for the old retailer's attention, as is a building part, a kana reading
    or a postal code that differs or is given on one side only (when ``review_partial``)."""

    review_below: float = 0.9
    review_partial: bool = True


DEFAULT = MatchSettings()


@dataclass(frozen=True, slots=True)
class FieldMatch:
    field: str
    forwarded: str
    record: str
    outcome: str  # exact | equivalent | mismatch
    score: float
    detail: dict[str, Any] = dataclass_field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "forwarded": self.forwarded,
            "record": self.record,
            "outcome": self.outcome,
            "score": round(self.score, 3),
            **self.detail,
        }


# --- normalisation ---------------------------------------------------------------------------


def _normalise_once(text: str) -> str:
    value = unicodedata.normalize("NFKC", text)
    value = jaconv.hira2kata(value)
    value = _SPACES_DOTS.sub("", value)
    value = _DASHES.sub("-", value)
    if "(" in value:
        value = _COMPANY_FORM.sub(lambda m: _COMPANY[m.group()], value)
        value = _KANA_READING.sub("", value)
    value = _HONORIFIC.sub("", value)
    return value.translate(_SMALL_KANA)


@lru_cache(maxsize=65536)
def normalise_text(text: str) -> str:
    """Width, kana form and size, spaces, dots, dashes, company forms, honorifics normalised
    (see the module docstring); repeated until nothing changes (removing a space can leave a
    combining mark for NFKC to compose), so normalising twice gives the same as once."""
    value = _normalise_once(text)
    for _ in range(8):
        again = _normalise_once(value)
        if again == value:
            break
        value = again
    return value


def normalise_name(text: str) -> str:
    """:func:`normalise_text`, and a dash after katakana read as the long-vowel mark."""
    return _KATAKANA_DASH.sub("ー", normalise_text(text))


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
    value = unicodedata.normalize("NFKC", text).strip()
    value = _POSTAL.sub("", value)
    value = _DIGIT_GAP.sub("-", value)  # 1-2-3 101: the room is not glued to the 号
    value = normalise_text(value)
    value = _DIGIT_DASH.sub("-", value)  # a long-vowel mark typed as a dash
    value = _KYOTO_STREET.sub("", value)
    value = _GA.sub("ケ", value)
    value = _OAZA.sub("", value)
    value = _kanji_numbers(value)
    value = _SEPARATORS.sub("-", value)
    value = _DASH_RUN.sub("-", value)
    value = _DASH_BEFORE_TEXT.sub("", value)  # a separator before a building name
    found = _BLOCK.search(value) or _NUMBER.search(value)
    if found is None:
        return value.strip("-"), ""
    return value[: found.end()].strip("-"), value[found.end() :].strip("-")


def _room(numbers: str) -> str:
    return "-".join(str(int(n)) for n in numbers.split("-"))


def _fourth_block(street: str) -> tuple[str, str]:
    """(street, room) with numbers after 丁目-番-号 as the room: 1-2-3-101 → (1-2-3, 101)."""
    found = _BLOCK.search(street)
    if found is None or found.group().count("-") < 3:
        return street, ""
    parts = found.group().split("-")
    return street[: found.start()] + "-".join(parts[:3]), _room("-".join(parts[3:]))


def _building(part: str, room: str = "") -> tuple[str, str]:
    """A building part as (name, room): the room is the trailing number group (室 dropped), or
    ``room`` already read from the street's block numbers."""
    found = _ROOM.search(part)
    if found is None or room:
        return part, room
    return part[: found.start()].strip("-"), _room(found.group(1))


def _extra_room(longer: str, shorter: str) -> str | None:
    """1-2-3-101 against 1-2-3: the fourth number is a room (or a 3+-digit one after a shorter
    block); 1-2-3 against 1-2 is not (a missing 号 is a different address)."""
    if not longer.startswith(shorter + "-"):
        return None
    extra = longer[len(shorter) + 1 :]
    if extra.isdigit() and (shorter.count("-") >= 2 or len(extra) >= 3):
        return extra
    return None


# --- comparison --------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _canonical_char(c: str) -> str:
    c = EXTRA_VARIANTS.get(c, c)
    family = Itaiji.get_family(c) if c >= "\u3400" else [c]
    return EXTRA_VARIANTS.get(min(family), min(family)) if family else c


def _canonical(text: str) -> str:
    return "".join(_canonical_char(c) for c in text)


def _same_chars(a: str, b: str) -> bool:
    """Equal, or equal character by character up to kanji variants (異体字)."""
    return a == b or Itaiji.is_similar(a, b) or _canonical(a) == _canonical(b)


def _score(a: str, b: str) -> float:
    return float(fuzz.ratio(_canonical(a), _canonical(b))) / 100.0


def _outcome(exact: bool, same: bool) -> str:
    return "exact" if exact else "equivalent" if same else "mismatch"


def match_name(forwarded: str, record: str, *, field: str = "name") -> FieldMatch:
    a, b = normalise_name(forwarded), normalise_name(record)
    outcome = _outcome(forwarded == record, _same_chars(a, b))
    return FieldMatch(field, a, b, outcome, 1.0 if outcome != "mismatch" else _score(a, b))


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
    (sa, ra), (sb, rb) = _fourth_block(sa), _fourth_block(sb)
    (na, ra), (nb, rb) = _building(ba, ra), _building(bb, rb)
    if sa != sb:  # a room written as an extra block number on one side
        if (extra := _extra_room(sa, sb)) is not None and not ra:
            sa, ra = sb, extra
        elif (extra := _extra_room(sb, sa)) is not None and not rb:
            sb, rb = sa, extra
    same_street = _same_chars(sa, sb)
    same_room = not ra or not rb or ra == rb
    same_name = not na or not nb or _same_chars(na, nb)
    a = " ".join(p for p in (sa, na, ra) if p)
    b = " ".join(p for p in (sb, nb, rb) if p)
    outcome = _outcome(forwarded == record, same_street and same_room and same_name)
    detail = {
        "building": {
            "forwarded": {"name": na, "room": ra},
            "record": {"name": nb, "room": rb},
            "one_side_only": bool(na or ra) != bool(nb or rb)
            or bool(ra) != bool(rb)
            or bool(na) != bool(nb),
        }
    }
    score = 1.0 if outcome == "exact" or (outcome == "equivalent" and a == b) else _score(a, b)
    return FieldMatch("address", a, b, outcome, score, detail)


# --- the judgement -------------------------------------------------------------------------------


def _address_text(item: Any) -> str:
    if isinstance(item, dict):
        return f"{item.get('prefecture') or ''}{item.get('rest') or ''}"
    return str(item or "")


def _postal(item: Any) -> str | None:
    if not isinstance(item, dict) or not item.get("postal_code"):
        return None
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", str(item["postal_code"])))


def _name_text(item: Any) -> tuple[str, str]:
    if isinstance(item, dict):
        return str(item.get("kanji") or ""), str(item.get("kana") or "")
    return str(item or ""), ""


def _contract_number(value: object) -> str | None:
    try:
        return normalise_contract_number(str(value)) if value is not None else None
    except ValidationError:
        return None


def judge(
    *,
    forwarded: dict[str, object],
    record: dict[str, object] | None,
    contract: RetailContract | None,
    point: str,
    wished_date: date | None,
    settings: MatchSettings = DEFAULT,
    ending: bool = False,
) -> tuple[str, list[str], dict[str, Any]]:
    """``("ok" | "ng", reason codes, per-field match)`` for one 廃止取次 (module docstring).

    ``contract`` is the old retailer's contract found under the forwarded number (None: unknown
    to it); ``record`` its customer record (name, address) for that contract; ``point`` the
    flow's supply point. ``ending``: a move-out (or another end) of the contract is in flight —
    ``contract_already_ending`` even where the contract has no end date yet.
    """
    reasons: list[str] = []
    fields: dict[str, Any] = {}
    forwarded_point = forwarded.get("supply_point_id")
    if contract is None:
        reasons.append(NgReason.NO_SUCH_CONTRACT.value)
    elif contract.supply_point_id.value != point:
        reasons.append(NgReason.CONTRACT_NOT_AT_POINT.value)
    elif ending or (
        contract.valid_to is not None and (wished_date is None or contract.valid_to <= wished_date)
    ):
        reasons.append(NgReason.CONTRACT_ALREADY_ENDING.value)
    if forwarded_point is not None:
        given = re.sub(r"\D", "", unicodedata.normalize("NFKC", str(forwarded_point)))
        fields["supply_point_id"] = {
            "forwarded": given,
            "record": point,
            "outcome": _outcome(str(forwarded_point) == point, given == point),
        }
        if given != point:
            reasons.append(NgReason.POINT_MISMATCH.value)
    review: list[str] = []
    if record is not None:
        kanji_f, kana_f = _name_text(forwarded.get("name"))
        kanji_r, kana_r = _name_text(record.get("name"))
        name = match_name(kanji_f, kanji_r)
        address = match_address(
            _address_text(forwarded.get("address")), _address_text(record.get("address"))
        )
        fields["name"], fields["address"] = name.as_dict(), address.as_dict()
        if name.outcome == "mismatch":
            reasons.append(NgReason.NAME_MISMATCH.value)
        if address.outcome == "mismatch":
            reasons.append(NgReason.ADDRESS_MISMATCH.value)
        review += [f for f in ("name", "address") if fields[f]["score"] < settings.review_below]
        if kana_f and kana_r:
            kana = match_name(kana_f, kana_r, field="name_kana")
            fields["name_kana"] = kana.as_dict()
            if kana.outcome == "mismatch" and settings.review_partial:
                review.append("name_kana")
        postal_f, postal_r = _postal(forwarded.get("address")), _postal(record.get("address"))
        fields["address"]["postal_code_matches"] = postal_f == postal_r
        if settings.review_partial:
            if postal_f != postal_r:
                review.append("postal_code")
            if address.detail["building"]["one_side_only"] and address.outcome != "mismatch":
                review.append("building")
    number_f = _contract_number(forwarded.get("contract_number"))
    number_r = contract.contract_number if contract is not None else None
    fields["contract_number"] = {
        "forwarded": number_f if number_f is not None else forwarded.get("contract_number"),
        "record": number_r,
        "outcome": "mismatch"
        if number_r is None or number_f != normalise_contract_number(number_r)
        else _outcome(forwarded.get("contract_number") == number_r, True),
    }
    if review:
        fields["review"] = sorted(set(review), key=review.index)
    return ("ng" if reasons else "ok"), reasons, fields
