"""The web: server-rendered pages in the API's app — the customer portal (:mod:`.portal`) and
the joint users' console (:mod:`.console`; the auditors' :mod:`.console_audit`, the DR
contractors' :mod:`.console_dr`, the administrators' :mod:`.console_admin`); the customer's
rights requests and contracts (:mod:`.portal_requests`), the controllers' correction and
holders' stop-use requests (:mod:`.console_corrections`), the retailers' CSV filings
(:mod:`.console_filings`) and the TSOs' supply point items (:mod:`.console_points`); shared
templates, ja/en messages (:mod:`.i18n`), security headers, cookies and CSRF (:mod:`.common`);
static CSS and JS served from the package (no CDN)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from jointuse.web.common import HERE, STATIC_PATH


def install_web(app: FastAPI, env: Mapping[str, str]) -> None:
    """Mount the pages and their static assets on ``app`` (``env``: the auditors' party codes,
    ``JOINTUSE_WEB_AUDITORS``; the passkeys' relying party, ``JOINTUSE_WEBAUTHN_RP_ID`` and
    ``JOINTUSE_WEBAUTHN_ORIGIN``)."""
    from jointuse.web.console import auditors_from
    from jointuse.web.console import router as console_router
    from jointuse.web.console_admin import router as admin_router
    from jointuse.web.console_audit import router as audit_router
    from jointuse.web.console_corrections import router as corrections_router
    from jointuse.web.console_corrections import stop_use_router
    from jointuse.web.console_dr import router as dr_router
    from jointuse.web.console_filings import router as filings_router
    from jointuse.web.console_points import router as points_router
    from jointuse.web.portal import relying_party_from
    from jointuse.web.portal import router as portal_router
    from jointuse.web.portal_requests import router as requests_router

    app.state.web_auditors = auditors_from(env)
    app.state.webauthn_rp = relying_party_from(env)
    app.include_router(portal_router)
    app.include_router(console_router)
    app.include_router(requests_router)
    app.include_router(corrections_router)
    app.include_router(stop_use_router)
    app.include_router(filings_router)
    app.include_router(points_router)
    app.include_router(audit_router)
    app.include_router(dr_router)
    app.include_router(admin_router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="web-static")
