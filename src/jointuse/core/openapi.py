"""The OpenAPI document as the API behaves, and docs pages that work offline.

:func:`install_openapi` post-processes FastAPI's generated document once (cached by FastAPI):

* the bearer scheme (``components.securitySchemes.bearerAuth``, HTTP ``bearer``) comes from the
  :class:`~fastapi.security.HTTPBearer` dependency of
  :func:`~jointuse.core.http.request_credentials` / :func:`~jointuse.core.http.acting_party`,
  so every operation that needs credentials names it and ``/docs`` has its *Authorize* button;
* the ``Jointuse-Purpose`` header is declared (by the same dependencies) with the policy's
  purposes;
* every error response is a problem (``application/problem+json``, schema ``Problem``), and
  the refusals an operation can give are listed: 400, 401, 403, 404, 409, 413 (with a body),
  422, 429 and 503 on operations with credentials; 404, 422, 429 and 503 on public ones.

Docs pages (``/docs``, ``/redoc``) load Swagger UI and ReDoc from the pinned package
``fastapi-offline`` (its static files served under :data:`STATIC_DOCS_PATH`), never from a CDN:
the app is built with :func:`fastapi_offline.FastAPIOffline`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer

STATIC_DOCS_PATH = "/static-offline-docs"
PROBLEM_MEDIA_TYPE = "application/problem+json"

#: The bearer scheme (``auto_error=False``: the dependency only documents it; authentication
#: and its 401 are the routes' own, inside their unit of work).
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="A token issued by `jointuse token issue PARTY` (`ju_<id>.<secret>`).",
)

_DESCRIPTIONS: dict[str, str] = {
    "400": "Bad request: purpose header missing, unknown, ambiguous or unreadable (with the "
    "valid purposes); malformed Content-Length",
    "401": "No valid credentials (WWW-Authenticate: Bearer); logged to the security log",
    "403": "Refused by the joint-use policy: rule, reason and refused items (on the ledger)",
    "404": "Unknown resource (where the policy lets the caller know)",
    "409": "Conflict with the registry's state: names the rule",
    "413": "Request body over the limit (64 KiB by default)",
    "422": "Invalid input: names each field, why, and what is valid",
    "429": "Too many authentication failures from this address (Retry-After)",
    "503": "Storage unavailable (read-only, full or unreachable database; Retry-After)",
}
_WITH_CREDENTIALS = ("400", "401", "403", "404", "409", "413", "422", "429", "503")
_PUBLIC = ("404", "422", "429", "503")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; refusals add their own members (field, valid, "
    "rule, reason, items_refused, …).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:jointuse:problem:invalid_input"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable code"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
    },
    "additionalProperties": True,
}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def shape_document(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (FastAPI's) with problem responses as described in the module docstring."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            if path in ("/healthz", "/readyz"):
                codes: tuple[str, ...] = ("503",) if path == "/readyz" else ()
            else:
                codes = _WITH_CREDENTIALS if op.get("security") else _PUBLIC
                if method not in ("post", "put", "patch"):
                    codes = tuple(c for c in codes if c != "413")
            for code in codes:
                responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = _problem_content()
                    if response.get("description") in ("Validation Error", None):
                        response["description"] = _DESCRIPTIONS.get(code, "Refused")
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that shapes FastAPI's document (once, cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = shape_document(doc)
        return app.openapi_schema

    setter: Callable[[], dict[str, Any]] = openapi
    app.openapi = setter  # type: ignore[method-assign]
