"""The plan page: one plan (batch placement, transfers or evacuation) as the hotline reads it.

It shows what ``GET /api/v1/plans/{id}`` answers, to the same roles: the kind of plan, the
planner's status and the plan's state, the risk-weighted placements it makes against the
proven bound on any plan's (plans stored before they were kept show neither), what
"optimal" means under the broker's gap tolerance, the places it proposes and how many
families it leaves unplaced. It leaves out the reasons: plans store them in English, and a
page speaks the reader's language. Applying a plan stays with the JSON API.
"""

from __future__ import annotations

from litestar import get
from litestar.params import FromPath
from litestar.response import Template

from api.deps import Actor, Broker, DbSession
from api.guards import allow
from broker.domain.access import Role
from broker.domain.states import PlanState
from broker.i18n import N_
from broker.services import planning

# translated where they are shown
KIND_TEXTS = {
    "batch": N_("Batch placement"),
    "transfers": N_("Transfer plan"),
    "evacuation": N_("Evacuation plan"),
}
STATUS_TEXTS = {
    "optimal": N_("optimal"),
    "feasible": N_("feasible: valid, not proven optimal"),
    "infeasible": N_("infeasible: not every family can be placed"),
}
STATE_TEXTS = {PlanState.PROPOSED: N_("proposed"), PlanState.APPLIED: N_("applied")}
# who may read a plan here (the API's readers); the inbox links plans for them alone
PLAN_READERS = (Role.COUNSELLOR, Role.ADMIN)


@get(
    "/plans/{plan_id:str}",
    opt=allow(*PLAN_READERS, via="cookie"),
    sync_to_thread=True,
)
def plan_page(plan_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor) -> Template:
    return Template(
        "plan.html",
        context={
            "actor": actor,
            "plan": planning.plan_get(session=db, plan_id=plan_id),
            "kinds": broker.rules.kind_labels,
            "kind_texts": KIND_TEXTS,
            "status_texts": STATUS_TEXTS,
            "state_texts": STATE_TEXTS,
            # the tolerance the broker solves under now; a plan does not keep its own
            "tolerance": broker.settings.plan_gap_tolerance,
        },
    )
