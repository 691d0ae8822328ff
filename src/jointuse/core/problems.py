"""Problem details (RFC 9457, ``application/problem+json``) for every refusal of the HTTP API.

Every refusal leaves the API as one JSON object: ``type`` (``urn:jointuse:problem:<code>``),
``title``, ``status``, ``detail`` (the human message), ``code`` (stable, machine-readable),
``instance`` (the request path), ``request_id`` (the server's; and ``caller_request_id``, the
caller's own ``X-Request-ID`` made safe, when it sent one), and the refusal's own extras —
``field`` and ``valid`` for bad input; ``rule``, ``reason``, ``purpose``, ``items_refused`` for a
policy refusal; ``character``/``position`` for a malformed supply point ID. The mapping is done
once, here, for :class:`~jointuse.core.errors.JointuseError`, for FastAPI's request validation (422,
naming each offending field, unknown JSON fields included: request models derive from
:class:`~jointuse.core.http.StrictModel`, ``extra="forbid"``) and for Starlette's HTTP errors
(unknown route 404, wrong method 405). Anything unexpected becomes a 500 problem that says
nothing about the internals (the traceback goes to the log, under the request ID).

A policy refusal for a missing or unknown purpose (``purpose_missing`` / ``purpose_unknown``)
becomes a **400** naming the ``Jointuse-Purpose`` header and listing the valid purposes. See
:mod:`jointuse.core.http` for the rest of the HTTP plumbing (which re-exports these names).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jointuse.core.edge import MAX_PROBLEM_BYTES, bounded
from jointuse.core.errors import JointuseError

# The HTTP layer's logger, named as before the split from jointuse.core.http.
log = logging.getLogger("jointuse.core.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:jointuse:problem:"
REQUEST_ID_HEADER = "X-Request-ID"
CALLER_REQUEST_ID_HEADER = "X-Caller-Request-ID"
PURPOSE_HEADER = "Jointuse-Purpose"

#: 5xx statuses a refusal gives on purpose, with its own message (not available here;
#: temporarily unavailable): passed through, not turned into an opaque 500.
_SAID_ON_PURPOSE = frozenset({501, 503})
#: What a problem keeps when its extras would take it past MAX_PROBLEM_BYTES.
_ESSENTIAL = (
    "type", "title", "status", "detail", "code", "reason", "field", "valid", "instance",
    "request_id", "retry_after", "limit_bytes",
)  # fmt: skip

_PURPOSE_REASONS = frozenset(
    {"purpose_missing", "purpose_unknown", "purpose_ambiguous", "purpose_invalid"}
)

#: Titles per stable code (the ``detail`` carries the specific message).
TITLES: Mapping[str, str] = {
    "invalid_input": "Invalid input",
    "invalid_supply_point_id": "Invalid supply point ID",
    "not_found": "Not found",
    "access_denied": "Access denied by the joint-use policy",
    "purpose_missing": "Purpose missing",
    "purpose_unknown": "Unknown purpose",
    "purpose_ambiguous": "Several purposes",
    "purpose_invalid": "Unreadable purpose",
    "too_many_failures": "Too many authentication failures",
    "storage_unavailable": "Storage unavailable",
    "authentication_failed": "Authentication failed",
    "request_too_large": "Request body too large",
    "conflict": "Conflict with a rule of the registry",
    "invalid_transition": "Step not allowed in the flow's state",
    "point_not_switchable": "Supply point cannot take this flow",
    "not_available": "Not available in this installation",
    "internal_error": "Internal error",
}


# --- JSON-safe extras ---------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (dataclasses, enums, dates, sets, tuples; else ``str``)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def _decision_extras(decision: Any) -> dict[str, Any]:
    """The parts of a policy decision a refused caller needs (no controllers, no bases)."""
    out: dict[str, Any] = {}
    for attr in ("rule_id", "reason", "purpose", "action"):
        key = "rule" if attr == "rule_id" else attr
        if hasattr(decision, attr):
            out[key] = jsonable(getattr(decision, attr))
    refused = getattr(decision, "refused", ())
    out["items_refused"] = [
        {
            "item": jsonable(getattr(r, "item", r)),
            "reason": jsonable(getattr(r, "reason", None)),
            "message": jsonable(getattr(r, "message", None)),
        }
        for r in refused
    ]
    if not out["items_refused"] and getattr(decision, "allowed", True) is False:
        # A request that named no items ("all the rule allows") is refused as a whole, as the
        # ledger records it: item "*".
        out["items_refused"] = [
            {
                "item": "*",
                "reason": jsonable(getattr(decision, "reason", None)),
                "message": jsonable(getattr(decision, "message", None)),
            }
        ]
    granted = getattr(decision, "granted", None)
    if granted is not None:
        out["items_granted"] = jsonable(granted)
    return out


def valid_purposes() -> list[str]:
    """The purpose keys of the shipped policy, in notice order."""
    from jointuse.policy.loader import default_policy

    return [p.key for p in default_policy().purposes]


def error_problem(exc: JointuseError) -> tuple[int, dict[str, Any]]:
    """Status and problem body of a refusal (without ``instance``/``request_id``)."""
    status = int(getattr(exc, "status", 400))
    code = str(getattr(exc, "code", "jointuse_error"))
    if status >= 500 and status not in _SAID_ON_PURPOSE:
        log.error("server-side refusal %s: %s", code, exc.message)
        return 500, _base(500, "internal_error", "The server could not complete the request.")
    extras: dict[str, Any] = {}
    details = dict(getattr(exc, "details", {}) or {})
    decision = details.pop("decision", None) or getattr(exc, "decision", None)
    purposes = details.get("valid_purposes") or details.get("valid")
    if decision is not None:
        extras.update(_decision_extras(decision))
        for key in ("rule_id", "refused", "valid_purposes"):  # given above, or below as `valid`
            details.pop(key, None)
    for key, value in details.items():
        if value is not None and key not in extras:
            extras[key] = jsonable(value)
    reason = extras.get("reason")
    if reason in _PURPOSE_REASONS:
        # The request named no purpose, or an unknown one: the request is incomplete (400).
        status, code = 400, str(reason)
        extras["field"] = PURPOSE_HEADER
        extras["valid"] = list(purposes) if isinstance(purposes, list) else valid_purposes()
    body = _base(status, code, exc.message)
    body.update({k: v for k, v in extras.items() if k not in body})
    return status, body


def _base(status: int, code: str, detail: str) -> dict[str, Any]:
    title = TITLES.get(code)
    if title is None:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }


def request_id_of(scope: Mapping[str, Any]) -> str | None:
    state = scope.get("state")
    if isinstance(state, Mapping):
        value = state.get("request_id")
        return value if isinstance(value, str) else None
    return None


def caller_request_id_of(scope: Mapping[str, Any]) -> str | None:
    """The caller's own request ID (made safe) of the request of ``scope``, if it sent one."""
    state = scope.get("state")
    if isinstance(state, Mapping):
        value = state.get("caller_request_id")
        return value if isinstance(value, str) else None
    return None


def problem_response(
    request_scope: Mapping[str, Any],
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem response for the request of ``request_scope`` (adds instance, request_id)."""
    body = bounded(body)
    body.setdefault("instance", str(request_scope.get("path", ""))[:200])
    request_id = request_id_of(request_scope)
    out_headers = dict(headers or {})
    if request_id:
        body.setdefault("request_id", request_id)
        out_headers[REQUEST_ID_HEADER] = request_id
    caller_id = caller_request_id_of(request_scope)
    if caller_id:
        body.setdefault("caller_request_id", caller_id)
        out_headers[CALLER_REQUEST_ID_HEADER] = caller_id
    if status == 401:
        out_headers.setdefault("WWW-Authenticate", 'Bearer realm="jointuse"')
    response = JSONResponse(
        body, status_code=status, headers=out_headers, media_type=PROBLEM_MEDIA_TYPE
    )
    if len(response.body) > MAX_PROBLEM_BYTES:  # many long extras: keep the essentials
        essentials = {k: body[k] for k in _ESSENTIAL if k in body}
        essentials["detail"] = str(essentials.get("detail", ""))[:300]
        essentials["truncated"] = True
        response = JSONResponse(
            essentials, status_code=status, headers=out_headers, media_type=PROBLEM_MEDIA_TYPE
        )
    return response


# --- exception handlers -------------------------------------------------------------------------


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, parts = parts[0], parts[1:]
        if where == "header" and parts:
            return parts[0]
    return ".".join(parts) or "body"


_VALIDATION_MESSAGES: Mapping[str, str] = {
    "extra_forbidden": "unknown field (not part of this request's schema)",
    "missing": "field required",
    "json_invalid": "request body is not valid JSON",
}


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """422 problem body for FastAPI / pydantic validation errors, naming every field."""
    listed: list[dict[str, Any]] = []
    for err in errors:
        kind = str(err.get("type", "invalid"))
        field = _field_of(err.get("loc", ()))
        message = _VALIDATION_MESSAGES.get(kind) or str(err.get("msg", "invalid value"))
        if kind == "json_invalid":
            ctx = err.get("ctx") or {}
            field = "body"
            message = f"request body is not valid JSON: {ctx.get('error', 'decode error')}"
        listed.append({"field": field, "message": message, "type": kind})
    fields = list(dict.fromkeys(e["field"] for e in listed))
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in listed[:5])
    if len(listed) > 5:
        summary += f"; … ({len(listed) - 5} more)"
    body = _base(422, "invalid_input", summary or "invalid request")
    body["field"] = fields[0] if fields else "body"
    body["fields"] = fields
    body["errors"] = listed
    return body


async def _answer(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    recorded: bool = False,
) -> JSONResponse:
    # The refusal is recorded for an authenticated caller (jointuse.core.http.answer_refusal).
    from jointuse.core.http import answer_refusal

    return await answer_refusal(
        request.scope, status, body, dict(headers) if headers else None, recorded=recorded
    )


async def _on_jointuse_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JointuseError)
    status = int(getattr(exc, "status", 400))
    if status >= 500 and status not in _SAID_ON_PURPOSE:
        return await _on_unexpected(request, exc)
    status, body = error_problem(exc)
    return await _answer(request, status, body, recorded=exc.recorded_on_ledger)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return await _answer(request, 422, validation_problem(exc.errors()))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = {404: "not_found", 413: "request_too_large"}.get(status, f"http_{status}")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and detail == "Not Found":
        detail = f"no such resource: {request.method} {request.url.path[:200]}"
    return await _answer(request, status, _base(status, code, detail), exc.headers)


async def _on_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """A write the database refused by a named business rule: 409 naming it (a constraint no
    rule names is a bug: 500)."""
    from sqlalchemy.exc import IntegrityError

    from jointuse.core.conflicts import conflict_from

    assert isinstance(exc, IntegrityError)
    conflict = conflict_from(exc)
    if conflict is None:
        return await _on_unexpected(request, exc)
    status, body = error_problem(conflict)
    return problem_response(request.scope, status, body)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # 503 for a storage fault (read-only, full, unreachable database), else 500.
    from jointuse.core.http import unexpected_response

    return unexpected_response(request.scope, exc)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to an RFC 9457 problem response (see the module docstring)."""
    app.add_exception_handler(JointuseError, _on_jointuse_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    from sqlalchemy.exc import IntegrityError

    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(Exception, _on_unexpected)
