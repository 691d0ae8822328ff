"""The one gate for personal data: policy decision + data access + ledger record, one transaction.

See :mod:`jointuse.access.gate`.
"""

from jointuse.access.gate import Gate, GateResult, LoadContext, NoLoader, PolicyDenied

__all__ = ["Gate", "GateResult", "LoadContext", "NoLoader", "PolicyDenied"]
