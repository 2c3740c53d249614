"""How fast and how good is the planner (``solver.plans.solve``) next to two plain ways of
solving the same placement problem?

Instances (built in memory from a seed and a fixed clock by ``benchmarks._plan_instances``;
no database):

1. batch placement: 500 and 2,000 seeded hotline families onto 2,000 facilities of the
   broker's synthetic network (``broker.network.synthetic_entries``);
2. transfer planning: 10,000 active stays on the same network; the residents whose stay
   limit falls within 14 days need a facility of a strictly later tier (or, for a flexible
   operator, another kind in its own houses, with a bonus);
3. evacuation: the residents of the demo network's 19-place secret shelter, onto the other
   58 demo facilities, outside its region and every region within the exclusion distance.

Solvers, one after the other on each instance, each with the same time limit (5 s):

- ours: ``solver.plans.solve(instance, time_limit=5)``, timed as one call (it finds the
  feasible pairs itself, so "build" is part of its solve time); it stops as soon as its
  plan is proven within the gap tolerance (1e-4);
- naive CP-SAT: one Boolean per (family, facility) pair over ALL pairs, built with plain
  Python loops, infeasible pairs forced to 0, at-most-one per family, unit and bed
  capacity per facility over all its variables, 2 workers. Its build time (finding the
  feasible pairs with ``solver.plans.candidates`` included) is reported apart from the
  solve; on the large instances a build that passes 60 s is abandoned and reported with
  its rate so far;
- HiGHS MIP: ``scipy.optimize.milp`` on the feasible pairs only, with a sparse constraint
  matrix; build (candidates included) and solve reported apart. Its "optimal" means within
  HiGHS's default relative gap (1e-4); the gap column shows the gap to its own dual bound.

Every objective is the sum of ``solver.plans.placement_value`` over the plan's pairs. Each
plan with assignments is checked with ``solver.validate.plan_problems`` and its objective
recomputed from one reference ``candidates`` call (the run aborts if a plan is invalid or
its objective disagrees); no solver's plan may beat another solver's proven bound.

Status: optimal (proven within a relative gap of 1e-4, for every solver), feasible (a plan,
not proven so), timeout (the time limit passed without any plan), no solution (the solver
stopped without a plan for another reason). "time vs ours" is (build + solve) / ours' time.
"weighted" counts the plan's risk-weighted placements (high risk 3, medium 2, standard 1,
plus urgency); ours also proves an upper bound on them ("w. bound"), and "proven" says
whether no plan can place more weight.

The table goes to stdout and to ``benchmarks/results/plan_solvers.txt`` (not for
``--quick`` runs, which use small instances and short limits); progress goes to stderr.

    .venv/bin/python -m benchmarks.plan_solvers [--quick] [--seed S] [--time-limit S]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version

import numpy as np
from ortools.sat.python import cp_model
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from benchmarks._plan_instances import (
    NamedInstance,
    batch_instance,
    evacuation_instance,
    synthetic_network,
    transfer_instance,
)
from benchmarks._support import (
    PROJECT_ROOT,
    BenchmarkAborted,
    log,
    machine_description,
    publish,
)
from broker.domain.rules import load_rules
from broker.settings import Settings
from solver.plans import (
    Assignment,
    Demand,
    Plan,
    PlanInstance,
    candidates,
    placement_value,
    placement_weight,
    solve,
)
from solver.validate import plan_problems

RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results" / "plan_solvers.txt"
OURS = "ours"
NAIVE = "naive CP-SAT"
HIGHS = "HiGHS MIP"
NAIVE_WORKERS = 2
STALE_AFTER_HOURS = 24
# objectives are sums of integers; HiGHS works in floating point
OBJECTIVE_TOLERANCE = 0.5
BOUND_RELATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Config:
    seed: int
    quick: bool
    time_limit: float
    naive_build_limit: float
    facilities: int
    batch_sizes: tuple[int, int]
    residents: int


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.plan_solvers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small instances, short limits")
    parser.add_argument("--seed", type=int, default=1, help="network and family seed")
    parser.add_argument("--time-limit", type=float, help="seconds per solver (default 5)")
    args = parser.parse_args(argv)
    if args.time_limit is not None and args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    quick = args.quick
    return Config(
        seed=args.seed,
        quick=quick,
        time_limit=args.time_limit or (2.0 if quick else 5.0),
        naive_build_limit=10.0 if quick else 60.0,
        facilities=400 if quick else 2000,
        batch_sizes=(100, 400) if quick else (500, 2000),
        residents=2000 if quick else 10_000,
    )


# --- the instances ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """An instance, and how long the naive model may take to build before it is abandoned
    (None: build it whatever it takes)."""

    key: str
    named: NamedInstance
    naive_build_limit: float | None


def build_cases(config: Config) -> list[Case]:
    settings = Settings()
    rules = load_rules(settings.data_dir)
    network = rules.network(stale_after_hours=STALE_AFTER_HOURS)
    synthetic = synthetic_network(rules, config.facilities, config.seed)
    small, large = config.batch_sizes
    limit = config.naive_build_limit
    return [
        Case(
            "batch-small", batch_instance(network, synthetic.facilities, small, config.seed), None
        ),
        Case(
            "batch-large", batch_instance(network, synthetic.facilities, large, config.seed), limit
        ),
        Case(
            "transfers", transfer_instance(network, synthetic, config.residents, config.seed), limit
        ),
        Case("evacuation", evacuation_instance(network, settings.data_dir, config.seed), None),
    ]


# --- outcomes --------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """One solver on one instance. ``build_seconds`` is None when building is part of the
    solve (ours); ``solve_seconds`` is None when the solver never ran."""

    solver: str
    build_seconds: float | None
    solve_seconds: float | None
    status: str
    objective: float | None = None
    bound: float | None = None
    plan: Plan | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return (self.build_seconds or 0.0) + (self.solve_seconds or 0.0)

    @property
    def placed(self) -> int | None:
        return None if self.plan is None else len(self.plan.assignments)

    def weighted(self, instance: PlanInstance) -> int | None:
        """The plan's risk-weighted placements, counted here for every solver alike."""
        if self.plan is None:
            return None
        weights = {d.key: placement_weight(d) for d in instance.demands}
        return sum(weights[a.key] for a in self.plan.assignments)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None or not math.isfinite(self.bound):
            return None
        if self.bound <= 0:
            return 0.0
        return max(0.0, (self.bound - self.objective) / self.bound)


def unplaced_of(instance: PlanInstance, placed: set[str], solver: str) -> dict[str, str]:
    return {d.key: f"not placed by {solver}" for d in instance.demands if d.key not in placed}


def plan_from_pairs(
    instance: PlanInstance,
    solver: str,
    status: str,
    objective: float,
    bound: float,
    seconds: float,
    chosen: list[tuple[Demand, int, float]],
) -> Plan:
    """A baseline's answer as the planner's ``Plan``, so the same validator checks it."""
    assignments = tuple(
        Assignment(key=demand.key, facility_id=fid, score=score, reasons=())
        for demand, fid, score in chosen
    )
    return Plan(
        status=status,
        objective=objective,
        bound=bound,
        solve_seconds=seconds,
        assignments=assignments,
        unplaced=unplaced_of(instance, {a.key for a in assignments}, solver),
    )


# --- ours ------------------------------------------------------------------------------------


def run_ours(instance: PlanInstance, time_limit: float) -> Outcome:
    started = time.perf_counter()
    plan = solve(instance, time_limit=time_limit)
    seconds = time.perf_counter() - started
    status = plan.status if plan.status in ("optimal", "feasible") else "no solution"
    return Outcome(OURS, None, seconds, status, plan.objective, plan.bound, plan)


# --- the naive CP-SAT model ------------------------------------------------------------------


@dataclass(slots=True)
class NaiveModel:
    model: cp_model.CpModel
    # feasible pairs only: (demand, facility id, score, variable)
    feasible: list[tuple[Demand, int, float, cp_model.IntVar]]
    pairs: int


@dataclass(frozen=True, slots=True)
class PartialBuild:
    """How far an abandoned build got: ``seconds`` in all, the first ``candidates_seconds``
    of them finding the feasible pairs."""

    pairs_built: int
    pairs_total: int
    seconds: float
    candidates_seconds: float

    @property
    def rate(self) -> float:
        """Pair variables (with their constraints) per second, after the candidates."""
        building = self.seconds - self.candidates_seconds
        return self.pairs_built / building if building > 0 else 0.0

    @property
    def estimated_seconds(self) -> float:
        if self.rate == 0:
            return math.inf
        return self.candidates_seconds + self.pairs_total / self.rate


def scores_by_family(instance: PlanInstance) -> dict[str, dict[int, float]]:
    return {
        key: {c.facility_id: c.score for c in options}
        for key, options in candidates(instance).items()
    }


def _past(limit: float | None, started: float) -> bool:
    return limit is not None and time.perf_counter() - started > limit


def build_naive(
    instance: PlanInstance, limit: float | None, started: float
) -> NaiveModel | PartialBuild:
    """The textbook model, every pair a variable; abandoned (returning how far it got) as
    soon as ``limit`` seconds have passed since ``started``."""
    scores = scores_by_family(instance)
    candidates_seconds = time.perf_counter() - started
    facilities = instance.facilities
    total = len(instance.demands) * len(facilities)
    model = cp_model.CpModel()
    per_facility: list[list[cp_model.IntVar]] = [[] for _ in facilities]
    sizes: list[list[int]] = [[] for _ in facilities]
    feasible: list[tuple[Demand, int, float, cp_model.IntVar]] = []
    built = 0
    for demand in instance.demands:
        fits = scores[demand.key]
        persons = demand.request.family.persons
        row = []
        for index, facility in enumerate(facilities):
            var = model.new_bool_var(f"x[{demand.key},{facility.id}]")
            score = fits.get(facility.id)
            if score is None:
                model.add(var == 0)
            else:
                feasible.append((demand, facility.id, score, var))
            per_facility[index].append(var)
            sizes[index].append(persons)
            row.append(var)
        model.add_at_most_one(row)
        built += len(row)
        if _past(limit, started):
            return PartialBuild(built, total, time.perf_counter() - started, candidates_seconds)
    for index, facility in enumerate(facilities):
        model.add(cp_model.LinearExpr.sum(per_facility[index]) <= facility.free_units)
        model.add(
            cp_model.LinearExpr.weighted_sum(per_facility[index], sizes[index])
            <= facility.free_beds
        )
        if _past(limit, started):
            return PartialBuild(built, total, time.perf_counter() - started, candidates_seconds)
    model.maximize(
        cp_model.LinearExpr.weighted_sum(
            [var for *_, var in feasible],
            [placement_value(demand, score) for demand, _, score, _ in feasible],
        )
    )
    return NaiveModel(model, feasible, total)


CP_SAT_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.UNKNOWN: "timeout",
}


def run_naive(instance: PlanInstance, time_limit: float, build_limit: float | None) -> Outcome:
    started = time.perf_counter()
    built = build_naive(instance, build_limit, started)
    build_seconds = time.perf_counter() - started
    if isinstance(built, PartialBuild):
        return Outcome(
            NAIVE,
            build_seconds,
            None,
            f"skipped (build > {build_limit:g} s)",
            notes=[
                f"abandoned after {built.pairs_built:,} of {built.pairs_total:,} pair variables "
                f"in {built.seconds:.1f} s: {built.candidates_seconds:.1f} s for candidates(), "
                f"then {built.rate:,.0f} pairs/s; the whole build would take about "
                f"{built.estimated_seconds:.0f} s"
            ],
        )
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = NAIVE_WORKERS
    solve_started = time.perf_counter()
    result = solver.solve(built.model)
    solve_seconds = time.perf_counter() - solve_started
    status = CP_SAT_STATUS.get(result, "no solution")
    outcome = Outcome(
        NAIVE,
        build_seconds,
        solve_seconds,
        status,
        notes=[f"{built.pairs:,} pair variables, {len(built.feasible):,} feasible"],
    )
    # without a solution CP-SAT reports no meaningful bound (it says 0)
    if result in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = solver.best_objective_bound
        outcome.bound = bound
        chosen = [(d, fid, s) for d, fid, s, var in built.feasible if solver.boolean_value(var)]
        outcome.objective = solver.objective_value
        outcome.plan = plan_from_pairs(
            instance, NAIVE, status, outcome.objective, bound, solve_seconds, chosen
        )
    return outcome


# --- HiGHS through scipy ---------------------------------------------------------------------


@dataclass(slots=True)
class MipProblem:
    pairs: list[tuple[Demand, int, float]]
    values: np.ndarray
    matrix: sparse.csr_array
    upper: np.ndarray


def build_mip(instance: PlanInstance) -> MipProblem:
    """Columns: feasible pairs. Rows: one place per family, then free units and free beds
    per facility."""
    found = candidates(instance)
    position = {f.id: i for i, f in enumerate(instance.facilities)}
    families, facilities, persons, values = [], [], [], []
    pairs: list[tuple[Demand, int, float]] = []
    for index, demand in enumerate(instance.demands):
        size = demand.request.family.persons
        for option in found[demand.key]:
            pairs.append((demand, option.facility_id, option.score))
            families.append(index)
            facilities.append(position[option.facility_id])
            persons.append(size)
            values.append(placement_value(demand, option.score))
    count, width = len(instance.demands), len(instance.facilities)
    columns = np.arange(len(pairs))
    facility = np.asarray(facilities, dtype=np.int64)
    rows = np.concatenate([np.asarray(families, dtype=np.int64), count + facility])
    rows = np.concatenate([rows, count + width + facility])
    data = np.concatenate([np.ones(2 * len(pairs)), np.asarray(persons, dtype=np.float64)])
    matrix = sparse.csr_array(
        sparse.coo_array((data, (rows, np.tile(columns, 3))), shape=(count + 2 * width, len(pairs)))
    )
    upper = np.concatenate(
        [
            np.ones(count),
            [f.free_units for f in instance.facilities],
            [f.free_beds for f in instance.facilities],
        ]
    ).astype(np.float64)
    return MipProblem(pairs, np.asarray(values, dtype=np.float64), matrix, upper)


HIGHS_STATUS = {0: "optimal", 1: "feasible", 2: "no solution", 3: "no solution", 4: "no solution"}


def run_highs(instance: PlanInstance, time_limit: float) -> Outcome:
    started = time.perf_counter()
    problem = build_mip(instance)
    build_seconds = time.perf_counter() - started
    solve_started = time.perf_counter()
    if not problem.pairs:
        return Outcome(HIGHS, build_seconds, 0.0, "optimal", 0.0, 0.0, None, ["no feasible pair"])
    result = milp(
        -problem.values,
        constraints=LinearConstraint(problem.matrix, -np.inf, problem.upper),
        integrality=np.ones(len(problem.pairs)),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit},
    )
    solve_seconds = time.perf_counter() - solve_started
    status = HIGHS_STATUS.get(result.status, "no solution")
    dual = getattr(result, "mip_dual_bound", None)
    bound = -dual if dual is not None and math.isfinite(dual) else None
    outcome = Outcome(HIGHS, build_seconds, solve_seconds, status, bound=bound)
    outcome.notes.append(f"{len(problem.pairs):,} columns, HiGHS: {result.message}")
    if result.x is None:
        if result.status == 1:
            outcome.status = "timeout"
        return outcome
    chosen = [pair for pair, x in zip(problem.pairs, result.x, strict=True) if x > 0.5]
    outcome.objective = -float(result.fun)
    outcome.plan = plan_from_pairs(
        instance,
        HIGHS,
        status,
        outcome.objective,
        math.inf if bound is None else bound,
        solve_seconds,
        chosen,
    )
    return outcome


# --- checks ----------------------------------------------------------------------------------


def reference_values(instance: PlanInstance) -> dict[tuple[str, int], tuple[float, int]]:
    """(score, placement value) of every feasible pair, from one ``candidates`` call."""
    demands = {d.key: d for d in instance.demands}
    return {
        (key, option.facility_id): (option.score, placement_value(demands[key], option.score))
        for key, options in candidates(instance).items()
        for option in options
    }


def check_plan(
    label: str,
    instance: PlanInstance,
    outcome: Outcome,
    reference: dict[tuple[str, int], tuple[float, int]],
) -> None:
    """Abort unless the plan is valid and its objective is the reference value of its pairs."""
    plan = outcome.plan
    if plan is None or not plan.assignments:
        return
    problems = plan_problems(instance, plan)
    if problems:
        shown = "\n  ".join(problems[:10])
        raise BenchmarkAborted(
            f"{outcome.solver} on {label}: INVALID PLAN, {len(problems)} problems:\n  {shown}"
        )
    recomputed = 0
    for assignment in plan.assignments:
        score, value = reference[(assignment.key, assignment.facility_id)]
        if abs(assignment.score - score) > 1e-9:
            raise BenchmarkAborted(
                f"{outcome.solver} on {label}: family {assignment.key} at facility "
                f"{assignment.facility_id} scored {assignment.score}, reference {score}"
            )
        recomputed += value
    if outcome.objective is None or abs(recomputed - outcome.objective) > OBJECTIVE_TOLERANCE:
        raise BenchmarkAborted(
            f"{outcome.solver} on {label}: reported objective {outcome.objective}, but its "
            f"pairs are worth {recomputed} by placement_value"
        )


def bound_conflicts(label: str, outcomes: list[Outcome]) -> list[str]:
    """No plan may be worth more than what another solver proved nobody can reach."""
    conflicts = []
    for holder in outcomes:
        if holder.bound is None:
            continue
        slack = OBJECTIVE_TOLERANCE + BOUND_RELATIVE_TOLERANCE * abs(holder.bound)
        for other in outcomes:
            if other.objective is not None and other.objective > holder.bound + slack:
                conflicts.append(
                    f"{label}: {other.solver} found {other.objective:,.0f} above the bound "
                    f"{holder.bound:,.1f} of {holder.solver}"
                )
    return conflicts


# --- the run ---------------------------------------------------------------------------------


@dataclass(slots=True)
class CaseResult:
    case: Case
    outcomes: list[Outcome]
    feasible_pairs: int
    without_option: int


def run_case(case: Case, config: Config) -> CaseResult:
    instance, label = case.named.instance, case.named.label
    reference = reference_values(instance)
    families_with_option = {key for key, _ in reference}
    outcomes = []
    for solver in (OURS, NAIVE, HIGHS):
        log(f"{label}: {solver}")
        if solver == OURS:
            outcome = run_ours(instance, config.time_limit)
        elif solver == NAIVE:
            outcome = run_naive(instance, config.time_limit, case.naive_build_limit)
        else:
            outcome = run_highs(instance, config.time_limit)
        gc.collect()  # the naive model's millions of objects go before the next solver runs
        log(
            f"{label}: {solver}: {outcome.status}, {outcome.total_seconds:.2f} s, "
            f"objective {outcome.objective}, bound {outcome.bound}"
        )
        overrun = (outcome.solve_seconds or 0.0) - config.time_limit
        if overrun > 0.1 * config.time_limit:
            outcome.notes.append(f"ran {overrun:.1f} s past its {config.time_limit:g} s time limit")
        check_plan(label, instance, outcome, reference)
        outcomes.append(outcome)
    return CaseResult(
        case,
        outcomes,
        feasible_pairs=len(reference),
        without_option=len(instance.demands) - len(families_with_option),
    )


# --- the report ------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def table_rows(results: list[CaseResult]) -> list[list[str]]:
    rows = []
    for result in results:
        ours = result.outcomes[0].total_seconds
        for outcome in result.outcomes:
            ratio = outcome.total_seconds / ours if ours > 0 else math.inf
            skipped = outcome.status.startswith("skipped")
            gap = outcome.gap
            weighted = outcome.weighted(result.case.named.instance)
            ours_plan = outcome.plan if outcome.solver == OURS else None
            rows.append(
                [
                    result.case.named.label,
                    outcome.solver,
                    (">" if skipped else "") + _seconds(outcome.build_seconds),
                    _seconds(outcome.solve_seconds),
                    outcome.status,
                    _number(outcome.objective),
                    _number(outcome.bound),
                    "-" if gap is None else f"{100 * gap:.3f}",
                    "-" if outcome.placed is None else f"{outcome.placed:,}",
                    "-" if weighted is None else f"{weighted:,}",
                    "-" if ours_plan is None else f"{ours_plan.placements_bound:,}",
                    "-" if ours_plan is None else ("yes" if ours_plan.placements_proven else "no"),
                    (">" if skipped else "") + f"{ratio:.1f}x",
                ]
            )
    return rows


HEADER = [
    "instance (requests x facilities)",
    "solver",
    "build s",
    "solve s",
    "status",
    "objective",
    "bound",
    "gap %",
    "placed",
    "weighted",
    "w. bound",
    "proven",
    "time vs ours",
]
LEFT_ALIGNED = {0, 1, 4, 11}


def format_table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i in LEFT_ALIGNED else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines, previous = [line(HEADER)], None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        lines.append(line(row if row[0] != previous else ["", *row[1:]]))
        previous = row[0]
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def target_lines(results: dict[str, CaseResult], config: Config) -> list[str]:
    small, large, transfers = (
        results[key].outcomes for key in ("batch-small", "batch-large", "transfers")
    )
    evacuation = results["evacuation"].outcomes[0]
    ours_small, ours_large, ours_transfers = small[0], large[0], transfers[0]

    def gap_of(outcome: Outcome) -> float:
        return outcome.gap if outcome.gap is not None else math.inf

    def within(outcome: Outcome, gap: float, seconds: float) -> str:
        met = gap_of(outcome) <= gap and outcome.total_seconds < seconds
        return (
            f"{_verdict(met)} (gap {100 * gap_of(outcome):.3f}% in "
            f"{outcome.total_seconds:.2f} s"
            + ("" if met else f"; {gap_of(outcome) / gap:.1f}x the gap allowed")
            + ")"
        )

    lines = [
        f"target: 500 x 2,000 optimal (gap <= 0.01%) in under 2 s: "
        f"{_verdict(ours_small.status == 'optimal' and ours_small.total_seconds < 2)} "
        f"({ours_small.status}, gap {100 * gap_of(ours_small):.4f}% in "
        f"{ours_small.total_seconds:.2f} s)",
        f"target: 2,000 x 2,000 within 0.5% in under 5 s: {within(ours_large, 0.005, 5)}",
        f"target: transfers within 0.1% in under 5 s: {within(ours_transfers, 0.001, 5)}",
        f"target: evacuation under 1 s: {_verdict(evacuation.total_seconds < 1)} "
        f"({evacuation.status} in {evacuation.total_seconds:.2f} s)",
    ]
    for key, result in results.items():
        ours, highs = result.outcomes[0], result.outcomes[2]
        if highs.objective is None:
            verdict = f"met (HiGHS has no plan: {highs.status})"
        else:
            ahead = (ours.objective or 0.0) >= highs.objective
            # two plans each proven within 1e-4 are equally optimal under the decision
            both_optimal = ours.status == highs.status == "optimal"
            verdict = (
                f"{_verdict(ahead or both_optimal)} (ours {_number(ours.objective)}, "
                f"HiGHS {_number(highs.objective)}"
                + (", both optimal within 1e-4" if both_optimal and not ahead else "")
                + ")"
            )
        lines.append(f"target: {key}: at least HiGHS's objective in the same time: {verdict}")
    over = [
        f"{key} {result.outcomes[0].total_seconds:.2f} s"
        for key, result in results.items()
        if result.outcomes[0].total_seconds > 1.1 * config.time_limit
    ]
    lines.append(
        f"target: ours never more than 10% past its {config.time_limit:g} s limit: "
        + (_verdict(True) if not over else f"{_verdict(False)} ({', '.join(over)})")
    )
    if config.quick:
        lines = [f"{line} [--quick: smaller instances, not judged]" for line in lines]
    return lines


def note_lines(results: list[CaseResult]) -> list[str]:
    lines = []
    for result in results:
        named = result.case.named
        demands = len(named.instance.demands)
        lines.append(
            f"{named.label}: {result.feasible_pairs:,} feasible pairs of "
            f"{demands * len(named.instance.facilities):,}; {result.without_option:,} of "
            f"{demands:,} families have no feasible place at all"
            + (f"; {named.note}" if named.note else "")
        )
        lines += [
            f"  {outcome.solver}: {note}" for outcome in result.outcomes for note in outcome.notes
        ]
    return lines


def format_report(
    config: Config, results: list[CaseResult], conflicts: list[str], load: tuple[float, float]
) -> str:
    by_key = {result.case.key: result for result in results}
    lines = [
        f"plan solvers: seed {config.seed}, time limit {config.time_limit:g} s per solver, "
        f"naive build abandoned after {config.naive_build_limit:g} s on the large instances"
        + (" (--quick)" if config.quick else ""),
        f"machine: {machine_description()}, ortools {version('ortools')}, "
        f"scipy {version('scipy')}; 1-min load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end",
        "",
        *format_table(table_rows(results)),
        "",
        *target_lines(by_key, config),
        "status: optimal = proven within a relative gap of 1e-4 (HiGHS's default, and ours); "
        "feasible = a plan, not proven so; timeout = no plan within the time limit; "
        "weighted = risk-weighted placements, w. bound = ours' proven bound on them",
        "checks: every plan valid (solver.validate.plan_problems); every objective equals "
        "the placement_value sum of its pairs from one reference candidates() call; "
        + ("no plan above another solver's bound" if not conflicts else "BOUND CHECK FAILED:"),
        *[f"  {conflict}" for conflict in conflicts],
        "",
        *note_lines(results),
    ]
    return "\n".join(lines)


def run(config: Config) -> tuple[str, bool]:
    load_at_start = os.getloadavg()[0]
    log("building the instances")
    cases = build_cases(config)
    results = [run_case(case, config) for case in cases]
    conflicts = [
        conflict
        for result in results
        for conflict in bound_conflicts(result.case.named.label, result.outcomes)
    ]
    report = format_report(config, results, conflicts, (load_at_start, os.getloadavg()[0]))
    return report, not conflicts


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    try:
        report, consistent = run(config)
    except BenchmarkAborted as problem:
        print(f"plan_solvers: ABORTED: {problem}", file=sys.stderr)
        return 1
    publish(report, started=started, results_file=RESULTS_FILE, quick=config.quick)
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
