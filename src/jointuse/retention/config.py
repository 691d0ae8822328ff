"""Retention periods per category of personal data, from the environment.

A period runs from the end of the customer's last contract (the latest ``valid_to`` of their
retail contracts; a customer with an open contract is never due). Days, a whole number ≥ 0.

====================================  =========  ================================================
variable                              default    what goes when it has run
====================================  =========  ================================================
``JOINTUSE_RETENTION_BASIC_DAYS``     ``1095``   basic items (氏名, 住所, 電話番号): pseudonymised
``JOINTUSE_RETENTION_LEDGER_DAYS``    ``1095``   the customer's ledger subject keys (and those of
                                                 their points' months in their tenure): shredded
``JOINTUSE_RETENTION_ACCOUNT_DAYS``   ``1095``   a portal account (e-mail address, sessions,
                                                 passkeys, codes) once every customer ID linked
                                                 to it is past the period: erased
====================================  =========  ================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from jointuse.core.errors import ValidationError

CATEGORIES = ("basic", "ledger", "account")
DEFAULT_DAYS = {"basic": 1095, "ledger": 1095, "account": 1095}
VARIABLES = {
    "basic": "JOINTUSE_RETENTION_BASIC_DAYS",
    "ledger": "JOINTUSE_RETENTION_LEDGER_DAYS",
    "account": "JOINTUSE_RETENTION_ACCOUNT_DAYS",
}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each category is kept after the customer's last contract ended."""

    basic: int = DEFAULT_DAYS["basic"]
    ledger: int = DEFAULT_DAYS["ledger"]
    account: int = DEFAULT_DAYS["account"]

    def days(self, category: str) -> int:
        return int(getattr(self, category))


def load_policy(environ: Mapping[str, str] | None = None) -> RetentionPolicy:
    """The periods from ``environ`` (default ``os.environ``); a bad value is refused, naming the
    variable."""
    env = os.environ if environ is None else environ
    values: dict[str, int] = {}
    for category in CATEGORIES:
        name = VARIABLES[category]
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            values[category] = DEFAULT_DAYS[category]
            continue
        text = raw.strip()
        if not text.isascii() or not text.isdigit():
            raise ValidationError(
                f"{name}={raw!r} is not a number of days",
                field=name,
                valid="a whole number of days, 0 or more",
            )
        values[category] = int(text)
    return RetentionPolicy(**values)
