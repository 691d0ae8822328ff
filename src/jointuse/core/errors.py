"""Typed refusals. Each kind of error has a stable machine-readable ``code``.

Later, the HTTP layer maps every :class:`JointuseError` once to an RFC 9457 problem response.
"""

from __future__ import annotations

from typing import Any


class JointuseError(Exception):
    """Base of every refusal the system gives on purpose (never a crash)."""

    code: str = "jointuse_error"
    status: int = 400
    #: True for refusals already on the access ledger (the gate's policy denials); the HTTP
    #: edge records every other refusal of an authenticated caller (jointuse.core.edge).
    recorded_on_ledger: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class ValidationError(JointuseError):
    """Input that does not parse or does not satisfy a rule. Names the field and what is valid."""

    code = "invalid_input"
    status = 422

    def __init__(
        self, message: str, *, field: str | None = None, valid: Any = None, **details: Any
    ) -> None:
        super().__init__(message, field=field, valid=valid, **details)
        self.field = field
        self.valid = valid


class InvalidSupplyPointId(ValidationError):
    code = "invalid_supply_point_id"


class ConfigError(JointuseError):
    """A data file (policy, value sets, reference data) that does not validate.

    Names the file, the line where known, and what would be valid.
    """

    code = "invalid_configuration"
    status = 500

    def __init__(
        self, message: str, *, file: str, line: int | None = None, valid: Any = None
    ) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", file=file, line=line, valid=valid)
        self.file = file
        self.line = line
        self.valid = valid


class NotFound(JointuseError):
    code = "not_found"
    status = 404


class AccessDenied(JointuseError):
    """The policy refused. Carries the decision's rule and reason."""

    code = "access_denied"
    status = 403
