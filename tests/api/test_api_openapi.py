"""The OpenAPI document and the docs pages (issue 12): a security scheme (the Authorize button),
the purpose header declared, every refusal documented as ``application/problem+json``, and
``/docs`` / ``/redoc`` served from packaged assets only (they were blank offline: CDN)."""

from __future__ import annotations

import re

import pytest
from api_helpers import World


@pytest.fixture
def backend() -> str:
    """SQLite only: the document does not depend on the database."""
    return "sqlite"


PERSONAL = [
    ("get", "/v1/customers/{customer_id}"),
    ("post", "/v1/switches"),
    ("get", "/v1/supply-points/{supply_point_id}"),
    ("put", "/v1/supply-points/{supply_point_id}"),
    ("get", "/v1/supply-points/{supply_point_id}/customer"),
]


def test_security_scheme_purpose_header_and_problem_responses(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    for method, path in PERSONAL:
        op = doc["paths"][path][method]
        assert op["security"] == [{"bearerAuth": []}], path
        headers = [p for p in op["parameters"] if p["in"] == "header"] if "parameters" in op else []
        assert [h["name"] for h in headers] == ["Jointuse-Purpose"], path
        codes = {"400", "401", "403", "404", "409", "422", "429", "503"}
        if method in ("post", "put"):
            codes.add("413")
        assert codes <= set(op["responses"]), (path, sorted(op["responses"]))
        for code, response in op["responses"].items():
            if code[0] in "45":
                assert list(response["content"]) == ["application/problem+json"], (path, code)
    public = doc["paths"]["/v1/parties"]["get"]
    assert "security" not in public and "401" not in public["responses"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "Problem" in doc["components"]["schemas"]
    assert set(doc["paths"]) >= {"/healthz", "/readyz"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets_that_are_served(world: World, page: str) -> None:
    r = world.client.get(page)
    assert r.status_code == 200
    html = r.text
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"']+", html)
    assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/static-offline-docs/"), asset
        got = world.client.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000, asset
    if page == "/docs":
        assert "swagger-ui-bundle.js" in html and "/openapi.json" in html
