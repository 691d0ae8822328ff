"""Response models of the parties registry API (public fields only)."""

from __future__ import annotations

from pydantic import BaseModel


class PartyOut(BaseModel):
    """A joint user as the public registry shows it (共同利用者): no credentials, no history."""

    code: str
    kind: str
    name_ja: str
    name_en: str
    meti_registration: str | None = None
    contractor_code: str | None = None
    area_code: str | None = None
    status: str


class PartyList(BaseModel):
    parties: list[PartyOut]
