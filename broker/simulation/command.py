"""``broker simulate``: the policy simulator from the command line.

    broker simulate [--days 365] [--seeds 20] [--network demo|synthetic:N]
                    [--policies all|P,P,...] [--out DIR] [--workers 2] [--language hu|en]

It needs no database: the rules, the figures and the network come from ``data/``. A
progress line is rewritten on stderr while it runs; the files go to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from broker.i18n import LANGUAGES
from broker.settings import Settings
from broker.simulation.policies import parse_policies
from broker.simulation.runner import SimulationSpec, run_simulation


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rsimulating: {done}/{total} runs")
    sys.stderr.flush()
    if done == total:
        sys.stderr.write("\n")


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from broker.simulation.outputs import write_simulation_files

    spec = SimulationSpec(
        days=args.days,
        seeds=args.seeds,
        network=args.network,
        policies=tuple(parse_policies(args.policies)),
        data_dir=settings.data_dir,
        first_seed=args.first_seed,
        workers=args.workers,
        plan_time_limit=args.plan_seconds,
    )
    spec.check()
    outcome = run_simulation(spec, progress=_progress)
    written = write_simulation_files(
        outcome, Path(args.out), language=args.language or settings.language
    )
    print(
        f"{len(outcome.results)} runs ({spec.seeds} seeds x {len(spec.policies)} policies, "
        f"{spec.days} days, network {spec.network}) in {outcome.seconds:.1f} s"
    )
    for path in written:
        print(f"  {path}")
    return 0


def add_simulate_command(commands: Any) -> None:
    """Register ``broker simulate`` on the CLI's sub-command parsers."""
    simulate = commands.add_parser(
        "simulate", help="play a year of calls under different policies (no database needed)"
    )
    simulate.add_argument("--days", type=int, default=365, help="days counted (default 365)")
    simulate.add_argument("--seeds", type=int, default=20, help="independent runs (default 20)")
    simulate.add_argument("--first-seed", type=int, default=1)
    simulate.add_argument(
        "--network", default="demo", help="demo, or synthetic:N for N generated facilities"
    )
    simulate.add_argument(
        "--policies",
        default="all",
        help="comma-separated transfers/matching/reentry, e.g. strict/ranked,flexible/optimised;"
        " 'all' is the six combinations of transfers and matching; the first is the baseline",
    )
    simulate.add_argument("--out", default="simulation", help="folder for the files")
    simulate.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    simulate.add_argument(
        "--plan-seconds", type=_positive, default=2.0, help="time limit of each planner round"
    )
    simulate.add_argument("--language", choices=LANGUAGES, help="the report's language")
    simulate.set_defaults(run=cmd_simulate)
