"""A short seeded schema-fuzzing run on both backends: zero 5xx (issue 12).

The long run (about 35,000 requests per backend) is ``tests/fuzz/run.py``; this one sends 30
generated requests per operation so that ``make test`` keeps the property in sight.

Some 5xx belong to work under way elsewhere (issue 12: categories the policy grants that no
area stores yet — a recorded 501 ``not_available`` by design of the gate's assembly; uniqueness
violations that surface as 500 instead of 409). They are reported as an expected failure
(``xfail``, visible in the summary) until fixed — remove them from :data:`OWNED_ELSEWHERE`
then; any other 5xx fails.
"""

from __future__ import annotations

import pytest
from harness import fuzz, fuzz_app
from sqlalchemy import Engine

OWNED_ELSEWHERE = ("NoLoader", "IntegrityError", "501 not_available")


def test_seeded_fuzzing_gives_no_server_error(engine: Engine) -> None:
    with fuzz_app(engine) as world:
        report = fuzz(world, examples=30, seed_value=12)
    assert report.requests >= 150
    # The seeded values take requests past validation and authentication: some are allowed.
    assert report.count(200) + report.count(201) > 0, report.statuses
    causes = [str(e.get("cause", "?")) for e in report.server_errors]
    other = [c for c in causes if not c.startswith(OWNED_ELSEWHERE)]
    assert other == [], other[:5]
    if causes:
        pytest.xfail(f"{len(causes)} 5xx owned elsewhere: {sorted(set(causes))[:3]}")
