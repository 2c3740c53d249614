"""Checks any plan against its instance, whatever produced it.

It shares nothing with the model but the definition of a feasible pair
(:func:`solver.plan_candidates.pair_refusal`: the network's hard rules of matching and what
the plan itself rules out), and recounts capacity itself: one unit per family, one bed per
person, every family whole in one place.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from solver.plan_candidates import pair_refusal
from solver.plan_data import Plan, PlanInstance


def plan_problems(instance: PlanInstance, plan: Plan) -> list[str]:
    """Every way the plan breaks the instance's rules; empty when it is valid."""
    problems: list[str] = []
    demands = {d.key: d for d in instance.demands}
    facilities = {f.id: f for f in instance.facilities}
    seen = Counter(a.key for a in plan.assignments)
    problems += [f"family {key} is placed {n} times" for key, n in seen.items() if n > 1]
    units: dict[int, int] = defaultdict(int)
    beds: dict[int, int] = defaultdict(int)
    for assignment in plan.assignments:
        demand = demands.get(assignment.key)
        facility = facilities.get(assignment.facility_id)
        if demand is None:
            problems.append(f"family {assignment.key} is not in the instance")
            continue
        if facility is None:
            problems.append(f"facility {assignment.facility_id} is not in the instance")
            continue
        refusal = pair_refusal(instance, demand, facility)
        if refusal is not None:
            problems.append(f"family {assignment.key} at facility {facility.id}: {refusal}")
        if assignment.key in plan.unplaced:
            problems.append(f"family {assignment.key} is both placed and unplaced")
        units[facility.id] += 1
        beds[facility.id] += demand.request.family.persons
    for fid, used in units.items():
        if used > facilities[fid].free_units:
            problems.append(
                f"facility {fid}: {used} families in {facilities[fid].free_units} free units"
            )
        if beds[fid] > facilities[fid].free_beds:
            problems.append(
                f"facility {fid}: {beds[fid]} people in {facilities[fid].free_beds} free beds"
            )
    missing = set(demands) - set(seen) - set(plan.unplaced)
    problems += [f"family {key} is neither placed nor explained" for key in sorted(missing)]
    return problems
