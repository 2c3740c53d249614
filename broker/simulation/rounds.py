"""The optimised policy's planning rounds: the families held since the last round and the
waiting list, placed together by the planner (``solver.plans.solve``); every plan is checked
with ``solver.validate.plan_problems`` before it is applied."""

from __future__ import annotations

import time

import numpy as np

from broker.simulation.engine import Run
from broker.simulation.population import Caller
from broker.simulation.state import SimulationError
from solver.plans import Demand, PlanInstance, solve
from solver.validate import plan_problems


def planning_round(run: Run, hour: float) -> None:
    """The optimised policy's round: the families held since the last round and the
    waiting list, placed together by the planner; the plan is validated first."""
    families = run.held + [caller for caller, _ in run.waiting.values()]
    # Only families that some free facility could take, and only such facilities (and
    # the free secret shelters, which the secret buffer counts), go to the planner: the
    # others cannot change the plan. A round where nobody fits costs nothing.
    started = time.perf_counter()
    reachable = np.zeros(len(run.states), dtype=bool)
    hopeful: list[Caller] = []
    for caller in families:
        static = run.waiting_masks.get(caller.index)
        if static is None:
            static = run.admissible(caller.request)
        fits = run.free & static & (run.free_beds >= caller.request.family.persons)
        if fits.any():
            hopeful.append(caller)
            reachable |= fits
    run.timed("planner", started)
    if not hopeful:
        round_leftovers(run, hour)
        return
    started = time.perf_counter()
    indices = np.flatnonzero(reachable | (run.free & run.secret))
    instance = PlanInstance(
        demands=tuple(Demand(key=str(c.index), request=c.request) for c in hopeful),
        facilities=tuple(run.states[i] for i in indices),
        network=run.network,
        now=run.now(hour),
    )
    plan = solve(instance, time_limit=run.spec.plan_time_limit, workers=1)
    run.timed("planner", started)
    started = time.perf_counter()
    problems = plan_problems(instance, plan)
    run.timed("validation", started)
    if problems:
        raise SimulationError("the planner's plan breaks the rules: " + problems[0])
    by_key = {str(c.index): c for c in families}
    for assignment in plan.assignments:
        caller = by_key[assignment.key]
        if caller.index in run.waiting:
            run.leave_waiting(caller, hour)
        run.place_first(caller, assignment.facility_id - 1, hour)
    round_leftovers(run, hour)


def round_leftovers(run: Run, hour: float) -> None:
    """Families held for a round and not placed in it: to the waiting list if they can
    wait days, else turned away."""
    for caller in run.held:
        if caller.index in run.placed_callers:
            continue
        if caller.may_wait:
            run.start_waiting(caller, hour)
        else:
            run.turn_away(caller, hour)
    run.held = []
