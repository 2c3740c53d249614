"""The policy simulator's pages (counsellors and admins): start a simulation with a few
choices, follow it while it runs, and read its report.

    GET  /simulations                     the form, and the simulations, newest first
    POST /simulations                     queue one, then its page (post/redirect/get)
    GET  /simulations/{id}                one simulation: settings, progress, outcome
    GET  /simulations/{id}/report         report.html, as its own document
    GET  /simulations/{id}/summary.json   the figures, to download
    GET  /simulations/{id}/runs.csv       one line per run, to download

Asking only queues the simulation: the scheduled job ``simulation_runs`` runs it in the
process that runs the scheduler (``broker.services.simulations``). While it waits or runs,
its page reloads itself every few seconds (a meta refresh; the pages run no script). The
report is sent as the simulator wrote it, under a policy of its own that allows its inline
style and nothing else (``api.headers.document_policy``). A refused request (a choice the
form does not offer, or too many simulations waiting) shows the form again with the reason.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.deps import Actor, DbSession, Now
from api.guards import allow
from api.headers import OWN_POLICY, document_policy
from api.pages.common import MultiForm, PageRefusal, field_errors, refused_page
from broker.db.models_simulation import SimulationStatus
from broker.domain.access import Role
from broker.errors import InvalidInput, RateLimited
from broker.i18n import N_, current, gettext
from broker.services import simulations
from broker.simulation.policies import Policy

SIMULATING = allow(Role.COUNSELLOR, Role.ADMIN, via="cookie")
REFRESH_SECONDS = 5
DEFAULT_DAYS = 365
# translated where they are shown
STATUS_TEXTS = {
    SimulationStatus.QUEUED: N_("waiting to start"),
    SimulationStatus.RUNNING: N_("running"),
    SimulationStatus.DONE: N_("done"),
    SimulationStatus.FAILED: N_("failed"),
}
NETWORK_TEXTS = {
    "demo": N_("the demo network (the national network, under 300 places)"),
    "synthetic:200": N_("a made-up network of 200 facilities"),
    "synthetic:500": N_("a made-up network of 500 facilities"),
}
POLICY_TEXTS = {
    "strict/first_fit": N_("strict transfers, places found by phoning round"),
    "strict/ranked": N_("strict transfers, places found by the broker's ranking"),
    "strict/optimised": N_("strict transfers, the planner twice a day"),
    "flexible/first_fit": N_("flexible transfers, places found by phoning round"),
    "flexible/ranked": N_("flexible transfers, places found by the broker's ranking"),
    "flexible/optimised": N_("flexible transfers, the planner twice a day"),
}
DOWNLOADS = {"summary.json": MediaType.JSON, "runs.csv": "text/csv; charset=utf-8"}


def policy_text(name: str) -> str:
    """A stored policy name (``strict/ranked/assessed``) as the page says it."""
    policy = Policy.parse(name)
    text = gettext(POLICY_TEXTS.get(f"{policy.transfers}/{policy.matching}", name))
    if policy.reentry == simulations.ASSESSED:
        return gettext("%(policy)s, with re-entry after an assessment") % {"policy": text}
    return text


def _choices(data: MultiForm | None) -> dict[str, Any]:
    """What the form shows as chosen: the defaults, or what was sent."""
    if data is None:
        return {
            "network": simulations.NETWORKS[0],
            "days": DEFAULT_DAYS,
            "seeds": str(simulations.DEFAULT_SEEDS),
            "policies": list(simulations.POLICY_CHOICES),
            "reentry": False,
        }
    return {
        "network": _one(data, "network"),
        "days": _number(_one(data, "days")),
        "seeds": _one(data, "seeds")[:6],
        "policies": _many(data, "policies"),
        "reentry": _one(data, "reentry") == "1",
    }


def _one(data: MultiForm, name: str) -> str:
    value = data.get(name, "")
    return (value[0] if isinstance(value, list) and value else str(value or "")).strip()[:80]


def _many(data: MultiForm, name: str) -> list[str]:
    value = data.get(name, [])
    return [item[:80] for item in (value if isinstance(value, list) else [value])][:20]


def _number(text: str) -> int:
    """A whole number as typed, or 0 (which no choice allows) for anything else."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 0


def _page(db: DbSession, actor: Actor, data: MultiForm | None = None) -> dict[str, Any]:
    return {
        "actor": actor,
        "runs": simulations.simulation_list(session=db),
        "chosen": _choices(data),
        "networks": simulations.NETWORKS,
        "day_choices": simulations.DAY_CHOICES,
        "max_seeds": simulations.MAX_SEEDS,
        "max_active": simulations.MAX_ACTIVE,
        "network_texts": NETWORK_TEXTS,
        "policy_texts": POLICY_TEXTS,
        "status_texts": STATUS_TEXTS,
        "Status": SimulationStatus,
        "error": None,
        "field_errors": {},
    }


def _refused(
    db: DbSession, actor: Actor, data: MultiForm, problem: InvalidInput | RateLimited
) -> PageRefusal:
    """The form again, as it was sent, with the reason, at the refusal's status."""
    errors = field_errors(problem) if isinstance(problem, InvalidInput) else {}
    return refused_page(
        db,
        problem,
        "simulations.html",
        lambda: {**_page(db, actor, data), "error": problem.message, "field_errors": errors},
    )


def _download(db: DbSession, run_id: int, name: str) -> Response[str]:
    text = simulations.simulation_file(session=db, run_id=run_id, name=name)
    return Response(
        text,
        media_type=DOWNLOADS[name],
        headers={"Content-Disposition": f'attachment; filename="simulation-{run_id}-{name}"'},
    )


class SimulationPages(Controller):
    """The pages under ``/simulations``. One controller, so that the form's GET and POST on
    one path are registered together: Litestar (2.25) wraps a standalone ``sync_to_thread``
    handler a second time when another standalone handler joins its path later."""

    path = "/simulations"

    @get("/", opt=SIMULATING, sync_to_thread=True)
    def page(self, db: DbSession, actor: Actor) -> Template:
        return Template("simulations.html", context=_page(db, actor))

    @post("/", opt=SIMULATING, sync_to_thread=True)
    def submit(self, data: MultiForm, db: DbSession, actor: Actor, now: Now) -> Redirect:
        chosen = _choices(data)
        try:
            run = simulations.simulation_request(
                session=db,
                actor=actor,
                network=chosen["network"],
                days=chosen["days"],
                seeds=_number(chosen["seeds"]),
                policies=chosen["policies"],
                reentry=chosen["reentry"],
                language=current().language,
                now=now,
            )
        except (InvalidInput, RateLimited) as problem:
            raise _refused(db, actor, data, problem) from problem
        return Redirect(f"/simulations/{run.id}", status_code=303)

    @get("/{run_id:int}", opt=SIMULATING, sync_to_thread=True)
    def run(self, run_id: FromPath[int], db: DbSession, actor: Actor) -> Template:
        run = simulations.simulation_get(session=db, run_id=run_id)
        return Template(
            "simulation.html",
            context={
                "actor": actor,
                "run": run,
                "refresh": REFRESH_SECONDS if run.active else None,
                "policies": [(name, policy_text(name)) for name in run.policies],
                "network_texts": NETWORK_TEXTS,
                "status_texts": STATUS_TEXTS,
                "downloads": list(DOWNLOADS),
                "Status": SimulationStatus,
            },
        )

    @get("/{run_id:int}/report", opt={**SIMULATING, OWN_POLICY: True}, sync_to_thread=True)
    def report(self, run_id: FromPath[int], db: DbSession) -> Response[str]:
        """The report as its own document: inline style and SVG, nothing fetched, no script."""
        html = simulations.simulation_file(session=db, run_id=run_id, name="report.html")
        return Response(
            html,
            media_type=MediaType.HTML,
            headers={"Content-Security-Policy": document_policy(html)},
        )

    @get("/{run_id:int}/summary.json", opt=SIMULATING, sync_to_thread=True)
    def summary(self, run_id: FromPath[int], db: DbSession) -> Response[str]:
        return _download(db, run_id, "summary.json")

    @get("/{run_id:int}/runs.csv", opt=SIMULATING, sync_to_thread=True)
    def runs_csv(self, run_id: FromPath[int], db: DbSession) -> Response[str]:
        return _download(db, run_id, "runs.csv")
