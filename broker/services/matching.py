"""Matching one family during a call: the database read, then the pure ranking."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlmodel import Session

from broker.domain.access import Principal
from broker.domain.requests import check_regions, request_to_json
from broker.i18n import N_
from broker.services.context import ServiceContext
from broker.services.statistics import unmet_case_record
from solver.feasibility import REASONS
from solver.instance import PlacementRequest
from solver.ranking import Ranking, rank

DECLINED_THIS_FAMILY = "declined_this_family"
# Every code that may appear in a ranking's ``excluded`` counts, with the text to show: a
# catalogue entry in English, said in the reader's language by broker.reason_texts.say.
EXCLUSION_REASONS = {**REASONS, DECLINED_THIS_FAMILY: N_("already declined this family")}


def match(
    *,
    session: Session,
    context: ServiceContext,
    request: PlacementRequest,
    now: datetime,
    limit: int = 10,
    exclude_facility_ids: Collection[int] = (),
    actor: Principal | None = None,
) -> Ranking:
    """Ranked options for the request; facilities in ``exclude_facility_ids`` (those that
    already declined this family) are left out and counted as ``declined_this_family``.
    With ``actor`` (the counsellor's own search), a ranking without any option is counted
    as an unmet case."""
    check_regions(request, context.rules)
    states = context.snapshot.states(session=session, now=now)
    kept = [state for state in states if state.id not in exclude_facility_ids]
    ranking = rank(request, kept, context.network(), now=now, limit=limit)
    skipped = len(states) - len(kept)
    if skipped:
        ranking.excluded[DECLINED_THIS_FAMILY] = skipped
    if ranking.feasible == 0 and actor is not None:
        unmet_case_record(
            session=session,
            key=context.case_key,
            counsellor_user_id=actor.user_id,
            request=request_to_json(request),
            now=now,
        )
    return ranking
