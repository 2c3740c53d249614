"""A finished simulation as its three files: ``summary.json``, ``runs.csv``, ``report.html``.

The command writes them to a folder; the web page keeps them with the run. Both get the
same bytes from :func:`simulation_files`.
"""

from __future__ import annotations

import json
from pathlib import Path

from broker.simulation.report import report_html
from broker.simulation.results import METRICS, Metric, occupancy_metric
from broker.simulation.runner import SimulationOutcome
from broker.simulation.summary import runs_csv, summarise, summary_json


def outcome_metrics(outcome: SimulationOutcome) -> list[Metric]:
    """Every metric of the run: the fixed ones, then occupancy per kind of its network."""
    return [*METRICS, *(occupancy_metric(kind, label) for kind, label in outcome.kinds.items())]


def outcome_settings(outcome: SimulationOutcome) -> dict[str, object]:
    spec = outcome.spec
    return {
        "days": spec.days,
        "seeds": spec.seeds,
        "first_seed": spec.first_seed,
        "network": spec.network,
        "policies": [policy.name for policy in spec.policies],
        "start": spec.start.date().isoformat(),
    }


def simulation_files(outcome: SimulationOutcome, *, language: str) -> dict[str, str]:
    """File name -> text, in the reader's ``language`` for the report."""
    metrics = outcome_metrics(outcome)
    summary = summarise(
        outcome.results, list(outcome.spec.policies), metrics, outcome_settings(outcome)
    )
    return {
        "summary.json": json.dumps(summary_json(summary), indent=2, ensure_ascii=False) + "\n",
        "runs.csv": runs_csv(outcome.results, metrics),
        "report.html": report_html(summary, language=language),
    }


def write_simulation_files(
    outcome: SimulationOutcome, out_dir: Path, *, language: str
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in simulation_files(outcome, language=language).items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
