"""Identifiers: the supply point ID (供給地点特定番号) and the area code (エリアコード).

A supply point ID is 22 ASCII digits; the first two are the area code of the supply area, which
names its TSO. People print it in groups and type it with full-width digits, so
:meth:`SupplyPointId.parse` accepts, character by character (each one NFKC-normalised):

* digits ``0``–``9`` and their full-width forms ``０``–``９``;
* spaces (any Unicode space separator, including the ideographic space U+3000), tab and line
  breaks, dropped;
* hyphens of every kind, dropped: ``-`` U+002D, U+2010, U+2011, U+2012, U+2013 (en dash),
  U+2014 (em dash), U+2212 (minus), U+FF0D (full-width hyphen-minus), and the katakana
  long-vowel marks ``ー`` U+30FC and ``ｰ`` U+FF70, which Japanese IMEs produce for a hyphen
  (and characters whose NFKC form is one of these, such as U+FE63 small hyphen-minus).

Anything else is refused, naming the character, its code point and its 1-based position in the
*original* text. Other characters that NFKC would turn into digits (①, ², 𝟏) are refused too:
nobody types an ID that way, and accepting them would hide copy-paste damage.

The layout of digits 3–22 and any check digit are not public, so none is checked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Self

from jointuse.core.errors import InvalidSupplyPointId, ValidationError

SUPPLY_POINT_ID_LENGTH = 22

#: Characters dropped as separators (besides white space), before and after NFKC.
HYPHENS: frozenset[str] = frozenset(
    {
        "-",  # U+002D hyphen-minus
        "\u2010",  # hyphen
        "\u2011",  # non-breaking hyphen
        "\u2012",  # figure dash
        "\u2013",  # en dash
        "\u2014",  # em dash
        "\u2212",  # minus sign
        "\uff0d",  # full-width hyphen-minus
        "\u30fc",  # katakana-hiragana prolonged sound mark ー
        "\uff70",  # half-width prolonged sound mark ｰ
    }
)

_FULLWIDTH_DIGITS = frozenset(chr(0xFF10 + n) for n in range(10))
_ASCII_DIGITS = frozenset("0123456789")

#: A customer ID: 1–64 ASCII letters, digits, '-' or '_', starting with a letter or digit
#: (use with ``re.fullmatch``: a trailing newline is not part of an ID).
CUSTOMER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}"


def _area_codes() -> frozenset[str]:
    # Imported lazily: jointuse.parties.reference imports from jointuse.core.
    from jointuse.parties.reference import area_codes

    return area_codes()


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    shown = repr(ch) if ch.isprintable() else "an invisible character"
    return f"{shown} (U+{ord(ch):04X}{' ' + name if name else ''})"


def is_separator(ch: str) -> bool:
    """True for a character dropped between digits: white space (Zs, tab, CR, LF) or a hyphen."""
    return (
        ch in "\t\n\r"
        or unicodedata.category(ch) == "Zs"
        or ch in HYPHENS
        or unicodedata.normalize("NFKC", ch) in HYPHENS
    )


def digits_only(text: str, *, field: str = "supply_point_id") -> str:
    """Normalise ``text`` to its ASCII digits, dropping white space and hyphens.

    Raises :class:`InvalidSupplyPointId` at the first character that is neither; the error
    carries ``character``, ``codepoint`` and ``position`` (1-based, in ``text``).
    """
    out: list[str] = []
    for position, ch in enumerate(text, start=1):
        if ch in _ASCII_DIGITS:
            out.append(ch)
        elif ch in _FULLWIDTH_DIGITS:
            out.append(unicodedata.normalize("NFKC", ch))
        elif is_separator(ch):
            continue
        else:
            raise InvalidSupplyPointId(
                f"supply point ID contains {_describe(ch)} at position {position}; only digits "
                "(half- or full-width), spaces and hyphens are allowed",
                field=field,
                valid="22 digits, optionally grouped with spaces or hyphens",
                character=ch,
                codepoint=f"U+{ord(ch):04X}",
                position=position,
            )
    return "".join(out)


@dataclass(frozen=True, slots=True)
class AreaCode:
    """A supply-area code ("01" Hokkaido … "10" Okinawa) from the reference data."""

    value: str

    def __post_init__(self) -> None:
        valid = _area_codes()
        if self.value not in valid:
            raise ValidationError(
                f"unknown area code {self.value!r}; valid area codes: {', '.join(sorted(valid))}",
                field="area_code",
                valid=sorted(valid),
            )

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept full-width digits and surrounding spaces: "０３" → AreaCode("03")."""
        return cls(unicodedata.normalize("NFKC", text).strip())

    @property
    def tso_code(self) -> str:
        """Party code of this area's TSO (e.g. "tso-03")."""
        from jointuse.parties.reference import tso_for_area

        return tso_for_area(self.value)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, order=True)
class SupplyPointId:
    """A supply point ID (供給（受電）地点特定番号): 22 ASCII digits with a known area code.

    Construct from user text with :meth:`parse`; the constructor itself accepts only the
    canonical form and refuses anything else the same way.
    """

    value: str

    def __post_init__(self) -> None:
        v = self.value
        if not isinstance(v, str) or not (v.isascii() and v.isdigit()):
            raise InvalidSupplyPointId(
                f"supply point ID must be {SUPPLY_POINT_ID_LENGTH} ASCII digits, got {v!r}; "
                "use SupplyPointId.parse() for typed or grouped input",
                field="supply_point_id",
                valid=f"{SUPPLY_POINT_ID_LENGTH} digits",
            )
        if len(v) != SUPPLY_POINT_ID_LENGTH:
            raise InvalidSupplyPointId(
                f"supply point ID has {len(v)} digit{'s' if len(v) != 1 else ''}; "
                f"{SUPPLY_POINT_ID_LENGTH} are needed",
                field="supply_point_id",
                valid=f"{SUPPLY_POINT_ID_LENGTH} digits",
                digits_found=len(v),
            )
        valid = _area_codes()
        if v[:2] not in valid:
            raise InvalidSupplyPointId(
                f"supply point ID starts with unknown area code {v[:2]!r}; "
                f"valid area codes: {', '.join(sorted(valid))}",
                field="supply_point_id",
                valid=sorted(valid),
                area_code=v[:2],
            )

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse an ID as people type it (see the module docstring for what is accepted)."""
        if not isinstance(text, str):
            raise InvalidSupplyPointId(
                f"supply point ID must be text, got {type(text).__name__}",
                field="supply_point_id",
            )
        digits = digits_only(text)
        if not digits:
            raise InvalidSupplyPointId(
                "supply point ID is empty"
                + (" (only spaces or hyphens were given)" if text else "")
                + f"; {SUPPLY_POINT_ID_LENGTH} digits are needed",
                field="supply_point_id",
                valid=f"{SUPPLY_POINT_ID_LENGTH} digits",
                digits_found=0,
            )
        return cls(digits)

    @property
    def area_code(self) -> str:
        """The first two digits: the supply area."""
        return self.value[:2]

    @property
    def tso_code(self) -> str:
        """Party code of the TSO of this point's area (e.g. "tso-03")."""
        from jointuse.parties.reference import tso_for_area

        return tso_for_area(self.area_code)

    def grouped(self) -> str:
        """Display form: the area code, then five groups of four ("03 1234 5678 9012 3456 7890")."""
        rest = self.value[2:]
        return " ".join([self.area_code, *(rest[i : i + 4] for i in range(0, len(rest), 4))])

    def masked(self) -> str:
        """Form for logs and screens that must not show the whole ID: area and last four only."""
        return f"{self.area_code} **** **** **** **** {self.value[-4:]}"

    def __str__(self) -> str:
        return self.value
