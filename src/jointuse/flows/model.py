"""Market flows as state machines (スイッチング支援システムの手続), pure: no I/O.

Each flow kind has named states and a table of allowed transitions (:data:`TRANSITIONS`: state →
step → next state); :func:`next_state` is the one guard every change of state goes through, and an
invalid step is a 409 (:class:`InvalidTransition`) naming the current state and the steps allowed
from it. The service layer (:mod:`jointuse.flows.service`) runs each step as one unit of work:
authorise through the gate, move the state, keep the transition, post the messages.

=================  ============================================================================
kind               states (→ terminal)
=================  ============================================================================
``switch``         スイッチング開始 with 廃止取次: ``awaiting_judgement`` (the 廃止取次 is with
                   the old retailer) → ``matched`` (OK: the old retailer's 廃止 and the new
                   retailer's 開始 are both in) → ``date_fixed`` (the TSO fixed the switching
                   date) → **completed** on that date; NG → **refused**; no judgement or no date
                   by the deadline → **expired**; the new retailer may withdraw before the date →
                   **withdrawn**
``move_in``        再点: ``awaiting_date`` → ``date_fixed`` → **completed** (a retroactive move-in,
                   遡及再点, completes as soon as its date is fixed); the TSO may refuse
``move_out``       廃止 (with or without meter removal 撤去): as ``move_in``, filed by the retailer
                   holding the contract; on completion its contract ends
``ampere_change``  アンペア変更: as ``move_in``; on completion the TSO's current limit changes
``info_change``    需要者情報変更: ``awaiting_controller`` (routed to the controller of basic
                   information when that is not the filer: the TSO for remote-island and
                   last-resort supply) → **completed** / **refused**; a filer that is the
                   controller completes it at once
=================  ============================================================================

The relations these flows open are derived from their state (:mod:`jointuse.flows.relations`):
``applicant`` while a switch or move-in is open, ``forwarding_addressee`` while a 廃止取次 awaits
its judgement, ``switching_operator`` (OCCTO) while any flow of the point is open.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from jointuse.core.errors import JointuseError


class FlowKind(StrEnum):
    SWITCH = "switch"  # スイッチング開始（廃止取次付き）
    MOVE_IN = "move_in"  # 再点
    MOVE_OUT = "move_out"  # 廃止
    AMPERE_CHANGE = "ampere_change"  # アンペア変更
    INFO_CHANGE = "info_change"  # 需要者情報変更


class FlowState(StrEnum):
    AWAITING_JUDGEMENT = "awaiting_judgement"
    MATCHED = "matched"
    AWAITING_DATE = "awaiting_date"
    AWAITING_CONTROLLER = "awaiting_controller"
    DATE_FIXED = "date_fixed"
    COMPLETED = "completed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Step(StrEnum):
    """What moves a flow on, and who may take the step."""

    JUDGE_OK = "judge_ok"  # the old retailer (or its automatic judgement)
    JUDGE_NG = "judge_ng"  # the old retailer
    FIX_DATE = "fix_date"  # the TSO of the area
    REFUSE = "refuse"  # the TSO of the area (or the controller, for info_change)
    ACCEPT = "accept"  # the controller of basic information (info_change)
    COMPLETE = "complete"  # the scheduler, on the date
    WITHDRAW = "withdraw"  # the filer, before the date
    EXPIRE = "expire"  # the scheduler, at the deadline


S = FlowState
TERMINAL = frozenset({S.COMPLETED, S.REFUSED, S.WITHDRAWN, S.EXPIRED})

#: Kinds of which at most one may be in flight per supply point (a database constraint).
EXCLUSIVE_KINDS = frozenset({FlowKind.SWITCH, FlowKind.MOVE_IN, FlowKind.MOVE_OUT})
#: Kinds that make their filer the point's ``applicant`` while open.
APPLICANT_KINDS = frozenset({FlowKind.SWITCH, FlowKind.MOVE_IN})

_DATED = {
    S.AWAITING_DATE: {
        Step.FIX_DATE: S.DATE_FIXED,
        Step.REFUSE: S.REFUSED,
        Step.WITHDRAW: S.WITHDRAWN,
        Step.EXPIRE: S.EXPIRED,
    },
    S.DATE_FIXED: {Step.COMPLETE: S.COMPLETED, Step.WITHDRAW: S.WITHDRAWN},
}

TRANSITIONS: Mapping[FlowKind, Mapping[FlowState, Mapping[Step, FlowState]]] = MappingProxyType(
    {
        FlowKind.SWITCH: {
            S.AWAITING_JUDGEMENT: {
                Step.JUDGE_OK: S.MATCHED,
                Step.JUDGE_NG: S.REFUSED,
                Step.WITHDRAW: S.WITHDRAWN,
                Step.EXPIRE: S.EXPIRED,
            },
            S.MATCHED: {
                Step.FIX_DATE: S.DATE_FIXED,
                Step.WITHDRAW: S.WITHDRAWN,
                Step.EXPIRE: S.EXPIRED,
            },
            S.DATE_FIXED: {Step.COMPLETE: S.COMPLETED, Step.WITHDRAW: S.WITHDRAWN},
        },
        FlowKind.MOVE_IN: _DATED,
        FlowKind.MOVE_OUT: _DATED,
        FlowKind.AMPERE_CHANGE: _DATED,
        FlowKind.INFO_CHANGE: {
            S.AWAITING_CONTROLLER: {
                Step.ACCEPT: S.COMPLETED,
                Step.REFUSE: S.REFUSED,
                Step.WITHDRAW: S.WITHDRAWN,
                Step.EXPIRE: S.EXPIRED,
            },
        },
    }
)

#: The state a newly filed flow starts in.
INITIAL: Mapping[FlowKind, FlowState] = MappingProxyType(
    {
        FlowKind.SWITCH: S.AWAITING_JUDGEMENT,
        FlowKind.MOVE_IN: S.AWAITING_DATE,
        FlowKind.MOVE_OUT: S.AWAITING_DATE,
        FlowKind.AMPERE_CHANGE: S.AWAITING_DATE,
        FlowKind.INFO_CHANGE: S.AWAITING_CONTROLLER,
    }
)


class NgReason(StrEnum):
    """Why an old retailer answers NG to a 廃止取次 (machine-readable, in the CSV results)."""

    NO_SUCH_CONTRACT = "no_such_contract"  # 該当契約なし
    CONTRACT_NOT_AT_POINT = "contract_not_at_point"  # 契約と供給地点の不一致
    NAME_MISMATCH = "name_mismatch"  # 契約名義不一致
    ADDRESS_MISMATCH = "address_mismatch"  # 需要場所住所不一致
    CONTRACT_ALREADY_ENDING = "contract_already_ending"  # 既に廃止予定
    POINT_MISMATCH = "point_mismatch"  # 供給地点特定番号不一致
    CUSTOMER_DECLINED = "customer_declined"  # 需要者の意思確認不可
    OTHER = "other"  # その他


class InvalidTransition(JointuseError):
    """A step the flow's state does not allow (409): names the state and the allowed steps."""

    code = "invalid_transition"
    status = 409


def allowed_steps(kind: FlowKind, state: FlowState) -> list[str]:
    """The steps allowed from ``state`` (none from a terminal state)."""
    return [s.value for s in TRANSITIONS[kind].get(state, {})]


def next_state(kind: FlowKind, state: FlowState, step: Step, *, flow_id: str = "") -> FlowState:
    """The state ``step`` moves a ``kind`` flow to from ``state``, or :class:`InvalidTransition`."""
    found = TRANSITIONS[kind].get(state, {}).get(step)
    if found is None:
        allowed = allowed_steps(kind, state)
        raise InvalidTransition(
            f"{kind.value} flow {flow_id} is {state.value}: {step.value} is not allowed"
            + (f"; allowed: {', '.join(allowed)}" if allowed else " (the flow has ended)"),
            flow_id=flow_id or None,
            state=state.value,
            step=step.value,
            allowed=allowed,
        )
    return found
