"""The planner keeps its time limit, whatever the instance: no solve runs more than 10 %
past it, model building, LP and bounds included, and what it returns is a valid plan.

On the benchmark's 2,000-facility synthetic network (seed 1): 2,000 families at 1 s, the
issue's case; 6,000 families, too many to examine in 1 s; and a limit shorter than the time
set aside for writing reasons, where no family can be examined at all.

`scripts/test.sh` runs this module on its own, after the parallel run: the limits are
promised for a solve with its cores to itself.
"""

from __future__ import annotations

import time
from functools import cache

import pytest

from benchmarks._plan_instances import batch_instance, synthetic_network
from broker.domain.rules import load_rules
from broker.settings import PROJECT_ROOT
from solver.plan_explanations import NOT_EXAMINED
from solver.plans import RISK_WEIGHT, PlanInstance, solve
from solver.validate import plan_problems

OVERRUN = 1.10  # at most 10 % past the limit


@cache
def large_instance(families: int) -> PlanInstance:
    rules = load_rules(PROJECT_ROOT / "data")
    network = rules.network(stale_after_hours=24)
    synthetic = synthetic_network(rules, 2000, seed=1)
    return batch_instance(network, synthetic.facilities, families, seed=1).instance


@pytest.mark.parametrize(
    ("families", "limit"), [(2000, 1.0), (2000, 2.0), (6000, 1.0), (2000, 0.2)]
)
def test_a_solve_ends_within_ten_percent_of_its_limit(families: int, limit: float) -> None:
    instance = large_instance(families)
    started = time.perf_counter()
    plan = solve(instance, time_limit=limit, workers=2)
    wall = time.perf_counter() - started
    assert wall <= OVERRUN * limit, f"{wall:.2f} s for a {limit} s limit"
    assert plan.solve_seconds <= OVERRUN * limit
    assert plan_problems(instance, plan) == []
    assert plan.objective <= plan.bound
    assert plan.placements <= plan.placements_bound
    # every family is either placed or told why not, and a family not examined in time
    # is said to be so, and counted in the bounds as if it could be placed at its best
    placed = {a.key for a in plan.assignments}
    assert placed | set(plan.unplaced) == {d.key for d in instance.demands}
    assert set(plan.unplaced) == set(plan.unplaced_codes)
    unexamined = {k for k, code in plan.unplaced_codes.items() if code == NOT_EXAMINED}
    weights = {d.key: RISK_WEIGHT[d.request.risk] for d in instance.demands}
    assert plan.placements_bound >= sum(weights[k] for k in placed | unexamined)
    if limit == 0.2:  # less than the time set aside for the reasons: nothing examined
        assert unexamined == {d.key for d in instance.demands}
        assert plan.status == "feasible" and not plan.assignments
    if families == 2000 and limit >= 1.0:  # the candidates fit easily in 1 s
        assert not unexamined and len(plan.assignments) > 1000
