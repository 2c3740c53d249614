"""One placement model, three uses: batch placement, transfer planning and evacuation.

Every use is the same problem: families (``Demand``) to put into free units of facilities,
each family whole into one unit with a bed per person, never breaking a hard rule of
matching, maximising risk-weighted placements first and the ranking score second. The uses
differ only in who the families are and which places they may take:

    batch        requests from the hotline onto free capacity
    transfers    residents whose stay limit is near, to a later tier (or, for an operator
                 with flexible transfers, to its houses on another stay clock; see
                 ``solver.transfers``)
    evacuation   the residents of a compromised facility, anywhere outside the danger
                 regions (the rules still send high-risk families to secret shelters only)

The CP-SAT model is built from small named constraint builders, with variables only for
feasible pairs. Before it is built, bounds (a min-cost flow without the bed limits, and
prices on capacity) remove every pair that cannot be part of a plan better than the
incumbent. When what is left is still too large for CP-SAT to finish within seconds, the
LP relaxation is solved instead (by column generation, or on very large instances by
first-order steps, PDLP) and rounded: its prices give a bound valid for the whole instance,
and CP-SAT completes and then improves the rounded plan. A plan is optimal once proven
within the gap tolerance (1e-4 by default), and every step keeps to the time limit.

This module names the planner's public entry points; each concern lives in its own module:

    solver.plan_data          Demand, PlanInstance, Candidate, Assignment, Plan, what a
                              placement is worth (placement_value) and counts for
                              (placement_weight), and the gap tolerance of "optimal"
    solver.plan_candidates    feasible places per family and their scores (candidate_arrays,
                              candidates), the one definition of a feasible pair
                              (pair_refusal)
    solver.plan_pairs         the feasible pairs as arrays, the form every later step uses
    solver.plan_heuristics    greedy and repaired min-cost-flow plans (the incumbent)
    solver.plan_bounds        Lagrangian, priced, LP (column generation) and knapsack
                              bounds, and pruning by them
    solver.plan_model         the CP-SAT model from named constraint builders, and solving it
    solver.plan_neighbourhoods  a large plan improved region by region with CP-SAT
    solver.plan_solve         the solve loop (solve), and the LP route with its rounding
    solver.plan_explanations  each placement's reasons, and why a family was left out
    solver.validate           checks any plan against its instance

The hard rules themselves are in ``solver.rules``, shared with the one-family ranking.
"""

from __future__ import annotations

from solver.plan_candidates import Places, candidate_arrays, candidates, pair_refusal
from solver.plan_data import (
    DEFAULT_GAP_TOLERANCE,
    RISK_WEIGHT,
    Assignment,
    Candidate,
    Demand,
    Plan,
    PlanInstance,
    placement_value,
    placement_weight,
)
from solver.plan_explanations import explain_unplaced
from solver.plan_solve import solve

__all__ = [
    "DEFAULT_GAP_TOLERANCE",
    "RISK_WEIGHT",
    "Assignment",
    "Candidate",
    "Demand",
    "Places",
    "Plan",
    "PlanInstance",
    "candidate_arrays",
    "candidates",
    "explain_unplaced",
    "pair_refusal",
    "placement_value",
    "placement_weight",
    "solve",
]
