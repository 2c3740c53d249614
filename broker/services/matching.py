"""Matching one family during a call: the database read, then the pure ranking."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlmodel import Session

from broker.domain.requests import check_regions
from broker.domain.rules import Rules
from broker.services.availability import FacilitySnapshot, facility_states
from solver.feasibility import REASONS
from solver.instance import PlacementRequest
from solver.ranking import Ranking, rank

DECLINED_THIS_FAMILY = "declined_this_family"
# Every code that may appear in a ranking's ``excluded`` counts, with the text to show.
EXCLUSION_REASONS = {**REASONS, DECLINED_THIS_FAMILY: "already declined this family"}


def match(
    *,
    session: Session,
    rules: Rules,
    request: PlacementRequest,
    now: datetime,
    stale_after: timedelta,
    limit: int = 10,
    exclude_facility_ids: Collection[int] = (),
    snapshot: FacilitySnapshot | None = None,
) -> Ranking:
    """Ranked options for the request; facilities in ``exclude_facility_ids`` (those that
    already declined this family) are left out and counted as ``declined_this_family``."""
    check_regions(request, rules)
    states = (
        snapshot.states(session=session, now=now)
        if snapshot is not None
        else facility_states(session=session, now=now)
    )
    kept = [state for state in states if state.id not in exclude_facility_ids]
    ranking = rank(
        request,
        kept,
        rules.network(stale_after_hours=stale_after.total_seconds() / 3600),
        now=now,
        limit=limit,
    )
    skipped = len(states) - len(kept)
    if skipped:
        ranking.excluded[DECLINED_THIS_FAMILY] = skipped
    return ranking
