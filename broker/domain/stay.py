"""Stay clocks and transfer tiers (pure functions).

Each kind has a maximum stay. Kinds that share a ``stay_clock`` in the rules add their days
up across transfers (time in crisis centres counts together); a move to a kind on another
clock starts that clock at zero. Transfers go to the same or a later tier (crisis centre,
then secret shelter or temporary home, then halfway house). An operator whose
``flexible_transfers`` switch is on may move a family between any kinds of its own houses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.domain.rules import KindRule
from broker.domain.states import HoldState, StayState
from broker.errors import Conflict
from broker.i18n import N_, gettext

SECONDS_PER_DAY = 86_400
# A hold's or a stay's state as a message names it; the stored value stays the code.
_STATE_WORDS: dict[str, str] = {
    HoldState.OPEN: N_("open"),
    HoldState.CONFIRMED: N_("confirmed"),
    HoldState.DECLINED: N_("declined"),
    HoldState.RELEASED: N_("released"),
    HoldState.EXPIRED: N_("expired"),
    StayState.ACTIVE: N_("active"),
    StayState.DEPARTED: N_("departed"),
    StayState.TRANSFERRED: N_("transferred"),
}


def state_word(state: str) -> str:
    """A hold's or a stay's state in the reader's language (the code if it has no word)."""
    word = _STATE_WORDS.get(state)
    return gettext(word) if word is not None else state


def ended(state: str, message: str) -> Conflict:
    """Refused because a hold or a stay is no longer open: ``message`` (translated) names
    its ``{state}``, which is filled in in the reader's language as well."""
    return Conflict(message.format(state=state_word(state)))


@dataclass(frozen=True, slots=True)
class PastStay:
    kind_clock: str
    started_at: datetime
    ended_at: datetime


def days_between(start: datetime, end: datetime) -> int:
    """Whole days begun: a stay from Monday evening to Tuesday morning counts one day."""
    seconds = max(0.0, (end - start).total_seconds())
    return int(-(-seconds // SECONDS_PER_DAY))


def prior_days_on_clock(clock: str, history: Iterable[PastStay]) -> int:
    return sum(days_between(s.started_at, s.ended_at) for s in history if s.kind_clock == clock)


def stay_limit(rule: KindRule, started_at: datetime, prior_days: int) -> datetime:
    """The date the stay must end; at the earliest the start itself."""
    remaining = max(0, rule.max_stay_days - prior_days)
    return started_at + timedelta(days=remaining)


def days_left(limit_at: datetime, now: datetime) -> int:
    """Days until the limit, a part-day counting as a day; 0 once it has passed."""
    return max(0, days_between(now, limit_at))


def transfer_refusal(
    *,
    source: KindRule,
    target: KindRule,
    same_operator: bool,
    operator_flexible: bool,
    allow_same_tier: bool,
) -> str | None:
    """Why a transfer between these kinds is not allowed, or None when it is."""
    if same_operator and operator_flexible:
        return None
    if target.tier > source.tier:
        return None
    if target.tier == source.tier and allow_same_tier:
        return None
    return gettext(
        "a transfer from a {source} (tier {source_tier}) to a {target} (tier {target_tier}) "
        "goes back a tier; only an operator with flexible transfers may do that within its "
        "own houses"
    ).format(
        source=gettext(source.label).lower(),
        source_tier=source.tier,
        target=gettext(target.label).lower(),
        target_tier=target.tier,
    )
