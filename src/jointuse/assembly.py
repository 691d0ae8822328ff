"""Composition root of the gate: one :class:`~jointuse.access.gate.Gate` per policy, assembled
from every business area's :class:`~jointuse.access.gate.GateParts`.

Every entry point — the HTTP API (:func:`jointuse.app.create_app`), the CLI, batch jobs, pages —
takes its gate from here, so a relation or loader one area adds can never be missing from another
entry point. Building refuses a policy the installed areas cannot serve (a relation no area
provides, a category no loader reads): :meth:`~jointuse.access.gate.Gate.assemble`.

The policy is the shipped one unless the operator names another (``--policy FILE`` /
``JOINTUSE_POLICY``): :func:`load_operator_policy` also refuses one that ``policy check`` finds
errors in, so a server never starts on a policy with errors.
"""

from __future__ import annotations

import functools
from pathlib import Path

from jointuse.access.gate import Gate, GateParts
from jointuse.core.errors import ConfigError
from jointuse.policy.loader import default_policy, load_policy
from jointuse.policy.model import Policy
from jointuse.policy.versions import PolicyVersions
from jointuse.retention.config import RetentionPolicy

#: Categories the policy lets parties read that no area stores yet. Their reads are refused
#: with 501 ``not_available`` (on the ledger), never a 500. None today: negawatt figures are
#: the stored settlement runs, read by the negawatt area's loader.
UNLOADED: frozenset[str] = frozenset()


def area_parts(
    policy: Policy | None = None, retention: RetentionPolicy | None = None
) -> list[GateParts]:
    """Every area's relations and loaders (those with policy parameters read ``policy``'s;
    default: the shipped one; the retention periods ``retention``'s, default: the environment's,
    ``JOINTUSE_RETENTION_BASIC_DAYS``)."""
    from jointuse.customers.service import gate_parts as customers_parts
    from jointuse.flows.relations import gate_parts as flows_parts
    from jointuse.negawatt.relation import gate_parts as negawatt_parts
    from jointuse.retention.config import load_policy as load_retention
    from jointuse.retention.relation import gate_parts as retention_parts
    from jointuse.usage.inquiry import gate_parts as usage_parts
    from jointuse.workorders.relations import gate_parts as work_orders_parts

    the_policy = policy or default_policy()
    return [
        customers_parts(the_policy),
        flows_parts(),
        negawatt_parts(the_policy),
        work_orders_parts(),
        usage_parts(),
        retention_parts(retention or load_retention()),
    ]


def build_gate(
    policy: Policy | None = None,
    *,
    versions: PolicyVersions | None = None,
    retention: RetentionPolicy | None = None,
) -> Gate:
    """A gate over ``policy`` (default: the shipped one; with ``versions``, the newest of them)
    with every area's parts (``retention``: the retention periods, default the environment's).
    With ``versions`` each request is decided by the version in force at its moment
    (:mod:`jointuse.policy.versions`)."""
    if versions is not None:
        policy = versions.versions[-1].policy
    the_policy = policy or default_policy()
    return Gate.assemble(
        the_policy, area_parts(the_policy, retention), unloaded=UNLOADED, versions=versions
    )


@functools.cache
def _gate_of(policy_path: str | None, earlier: tuple[str, ...] = ()) -> Gate:
    if earlier:
        current = load_operator_policy(policy_path)
        older = [load_operator_policy(p) for p in earlier]
        return build_gate(versions=PolicyVersions([*older, current]))
    if policy_path is None:
        return build_gate()
    return build_gate(load_operator_policy(policy_path))


def default_gate() -> Gate:
    """The gate of this process's configuration: over the operator's policy
    (``JOINTUSE_POLICY``) when set, else the shipped one; built once per policy file. The CLI's
    commands and batch jobs take theirs from here; the app from :func:`gate_for` and its
    settings."""
    from jointuse.core.settings import load_settings

    settings = load_settings()
    return _gate_of(settings.policy_path, settings.policy_earlier)


def load_operator_policy(path: str | Path | None) -> Policy:
    """The policy at ``path`` (None: the shipped one), refused when it has errors.

    Errors are what ``jointuse policy check`` reports at severity ``error``; a ``gap`` (what the
    law requires the notice to state, e.g. the controller's address) is the operator's to fill
    but does not stop the service — the shipped policy has one on purpose (see the README)."""
    from jointuse.policy.check import check_policy

    policy = load_policy(path) if path is not None else default_policy()
    errors = [f for f in check_policy(policy).findings if f.severity == "error"]
    if errors:
        raise ConfigError(
            "the policy has errors: " + "; ".join(f.message for f in errors),
            file=policy.source,
            valid="a policy that `jointuse policy check` passes without errors",
        )
    return policy


def gate_for(policy_path: str | Path | None, earlier: tuple[str, ...] = ()) -> Gate:
    """The gate over the operator's policy (shipped one when None), checked first; with
    ``earlier`` versions (``JOINTUSE_POLICY_EARLIER``) each request is decided by the version in
    force at its moment."""
    return _gate_of(None if policy_path is None else str(policy_path), tuple(earlier))
