"""How long does the policy simulator take, and where does the time go?

Two measurements, each through :func:`broker.simulation.runner.run_simulation` as
``broker simulate`` calls it:

1. The issue's workload: the demo network, 20 seeds x 365 counted days x the six
   combinations of transfers (strict, flexible) and matching (first_fit, ranked,
   optimised), over 2 worker processes. Target: under 60 s of wall time.
2. One seed of 365 counted days on a 2,000-facility synthetic network (calls in proportion
   to its beds: about 84,000 a year), each of the six policies on its own, in this process.
   Target: under 60 s per policy.

For every policy the table gives the mean seconds of one run, its ratio to the phoning
round under the same transfers (side by side in the same run), and where the time went:
drawing the calls and first residents (done once per seed), the ranking or the phoning
round, the planner, validating every placement and plan, and the events themselves.
The table goes to stdout and to ``benchmarks/results/simulation.txt`` (not for
``--quick``); progress goes to stderr.

    .venv/bin/python -m benchmarks.simulation [--quick] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from benchmarks._support import PROJECT_ROOT, log, machine_description, publish
from broker.simulation.policies import SIX_COMBINATIONS, Policy
from broker.simulation.results import RunResult
from broker.simulation.runner import SimulationSpec, run_simulation

RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results" / "simulation.txt"
PARTS = ("arrivals", "first residents", "phoning round", "ranking", "planner", "validation")


def _table(results: list[RunResult], policies: tuple[Policy, ...]) -> list[str]:
    by_policy: dict[Policy, list[RunResult]] = defaultdict(list)
    for result in results:
        by_policy[result.policy].append(result)
    header = f"{'policy':<30} {'s/run':>7} {'ratio':>6} " + " ".join(
        f"{part[:13]:>13}" for part in (*PARTS, "events")
    )
    lines = [header, "-" * len(header)]
    for policy in policies:
        runs = by_policy[policy]
        mean = sum(r.seconds for r in runs) / len(runs)
        baseline = by_policy[Policy(policy.transfers, "first_fit", policy.reentry)]
        ratio = mean / (sum(r.seconds for r in baseline) / len(baseline))
        shares = []
        for part in (*PARTS, "events"):
            spent = sum(r.seconds_by_part.get(part, 0.0) for r in runs) / len(runs)
            shares.append(f"{spent:7.2f} ({spent / mean:4.0%})" if spent else f"{'-':>13}")
        lines.append(f"{policy.name:<30} {mean:7.2f} {ratio:6.2f} " + " ".join(shares))
    return lines


def _turned_away(results: list[RunResult], policies: tuple[Policy, ...]) -> list[str]:
    lines = []
    for policy in policies:
        runs = [r for r in results if r.policy == policy]
        arrived = sum(r.metrics["families_arrived"] for r in runs) / len(runs)
        away = sum(r.metrics["share_turned_away"] for r in runs) / len(runs)
        lines.append(f"  {policy.name:<30} {arrived:9.0f} calls a run, {away:6.1%} turned away")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds x 60 days; no file")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    seeds, days = (2, 60) if args.quick else (20, 365)
    synthetic = "synthetic:300" if args.quick else "synthetic:2000"
    report = [f"simulation benchmark on {machine_description()}", ""]

    log(f"demo network: {seeds} seeds x {days} days x 6 policies, 2 workers")
    demo = run_simulation(
        SimulationSpec(days=days, seeds=seeds, policies=SIX_COMBINATIONS, workers=2),
        progress=lambda done, total: log(f"  {done}/{total} runs"),
    )
    verdict = "under" if demo.seconds < 60 else "OVER"
    report += [
        f"1. demo network, {seeds} seeds x {days} days x 6 policies on 2 workers: "
        f"{demo.seconds:.1f} s wall ({verdict} the 60 s target)",
        *_table(demo.results, SIX_COMBINATIONS),
        *_turned_away(demo.results, SIX_COMBINATIONS),
        "",
    ]
    if not args.skip_synthetic:
        report.append(f"2. {synthetic}, one seed x {days} days, each policy alone in one process")
        results = []
        walls = []
        for policy in SIX_COMBINATIONS:
            log(f"{synthetic}: {policy.name}")
            outcome = run_simulation(
                SimulationSpec(days=days, seeds=1, network=synthetic, policies=(policy,), workers=1)
            )
            results += outcome.results
            walls.append(
                f"  {policy.name:<30} {outcome.seconds:7.1f} s wall"
                f" ({'under' if outcome.seconds < 60 else 'OVER'} 60 s)"
            )
        report += [
            *_table(results, SIX_COMBINATIONS),
            *walls,
            *_turned_away(results, SIX_COMBINATIONS),
        ]
    publish("\n".join(report), started=started, results_file=RESULTS_FILE, quick=args.quick)


if __name__ == "__main__":
    main()
