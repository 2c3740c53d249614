"""Means, 95 % intervals and paired differences over the seeds of a simulation, and the files
they are written to.

Each seed is one independent year, so the seeds' values of a metric are a sample: the report
gives their mean with a Student-t interval. Because every policy meets the same arrivals in
a seed (common random numbers), a policy is compared with the first one seed by seed: the
interval of the per-seed differences is far narrower than the two policies' own intervals
would suggest, and it is the one that says whether a policy changes anything.

A metric that a run could not measure (no family placed outside her region, so no distance)
is missing or NaN in that run; it is left out of that policy's sample, and a seed lacking it
in either policy is left out of the difference.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from broker.simulation.policies import Policy
from broker.simulation.results import Metric, RunResult

# Student t quantiles at 0.975 for 1 to 30 degrees of freedom, to the digits printed in the
# usual tables; beyond 30 the Cornish-Fisher series in _t_beyond_table is exact to 1e-6.
_T_975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)
_Z_975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    return _t_beyond_table(df)


def _t_beyond_table(df: int) -> float:
    z, v = _Z_975, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


@dataclass(frozen=True, slots=True)
class Estimate:
    """The mean of a sample and its 95 % interval. ``low`` and ``high`` are None when the
    sample has fewer than two values (no interval can be said); ``mean`` is None when it
    has none."""

    mean: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the interval lies wholly on one side of zero; None without an interval.
        An interval of width zero away from zero counts: every seed said the same."""
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0


def estimate(values: Sequence[float]) -> Estimate:
    """Mean and Student-t 95 % interval of ``values`` (NaN values are left out)."""
    sample = [float(value) for value in values if not math.isnan(value)]
    n = len(sample)
    if n == 0:
        return Estimate(None, None, None, 0)
    mean = math.fsum(sample) / n
    if n == 1:
        return Estimate(mean, None, None, 1)
    variance = math.fsum((value - mean) ** 2 for value in sample) / (n - 1)
    half = t_quantile_975(n - 1) * math.sqrt(variance / n)
    return Estimate(mean, mean - half, mean + half, n)


@dataclass(frozen=True, slots=True)
class DailySeries:
    """A policy's days, each the mean over the seeds that reached it."""

    occupancy: dict[str, list[float]]  # kind -> share of units occupied at the day's end
    turned_away: list[float]  # families turned away that day


@dataclass(frozen=True, slots=True)
class Summary:
    settings: dict[str, object]  # as handed in: days, seeds, network, policies...
    policies: list[Policy]  # the first is the one the others are compared with
    metrics: list[Metric]
    seeds: list[int]
    estimates: dict[str, dict[str, Estimate]]  # policy name -> metric key -> over seeds
    # policy name -> metric key -> paired difference from the first policy (not for it)
    differences: dict[str, dict[str, Estimate]]
    daily: dict[str, DailySeries]  # policy name -> its days

    @property
    def baseline(self) -> Policy:
        return self.policies[0]


def _value(result: RunResult, key: str) -> float:
    value = result.metrics.get(key)
    return math.nan if value is None else float(value)


def _mean_by_day(series: Sequence[Sequence[float]]) -> list[float]:
    days = max((len(one) for one in series), default=0)
    means = []
    for day in range(days):
        values = [float(one[day]) for one in series if day < len(one)]
        means.append(math.fsum(values) / len(values))
    return means


def _daily(runs: Sequence[RunResult]) -> DailySeries:
    kinds = list(dict.fromkeys(kind for run in runs for kind in run.daily_occupancy))
    return DailySeries(
        occupancy={
            kind: _mean_by_day(
                [run.daily_occupancy[kind] for run in runs if kind in run.daily_occupancy]
            )
            for kind in kinds
        },
        turned_away=_mean_by_day([run.daily_turned_away for run in runs]),
    )


def summarise(
    results: Sequence[RunResult],
    policies: Sequence[Policy],
    metrics: Sequence[Metric],
    settings: Mapping[str, object] | None = None,
) -> Summary:
    """Every policy's metrics over the seeds, and each policy's paired difference from the
    first of ``policies``. A seed run more than once under a policy counts its last run."""
    if not policies:
        raise ValueError("summarise needs at least one policy")
    names = {policy.name for policy in policies}
    by_policy: dict[str, dict[int, RunResult]] = {policy.name: {} for policy in policies}
    for result in results:
        if result.policy.name not in names:
            raise ValueError(f"a result of {result.policy.name}, which is not among the policies")
        by_policy[result.policy.name][result.seed] = result
    baseline = by_policy[policies[0].name]
    estimates: dict[str, dict[str, Estimate]] = {}
    differences: dict[str, dict[str, Estimate]] = {}
    for policy in policies:
        runs = by_policy[policy.name]
        estimates[policy.name] = {
            metric.key: estimate([_value(run, metric.key) for run in runs.values()])
            for metric in metrics
        }
        if policy == policies[0]:
            continue
        paired = sorted(set(runs) & set(baseline))
        differences[policy.name] = {
            metric.key: estimate(
                [_value(runs[s], metric.key) - _value(baseline[s], metric.key) for s in paired]
            )
            for metric in metrics
        }
    return Summary(
        settings=dict(settings or {}),
        policies=list(policies),
        metrics=list(metrics),
        seeds=sorted({seed for runs in by_policy.values() for seed in runs}),
        estimates=estimates,
        differences=differences,
        daily={name: _daily(list(runs.values())) for name, runs in by_policy.items()},
    )


# --- the files ---------------------------------------------------------------------------------


def _plain(value: object) -> object:
    """A setting as JSON can hold it: a policy by its name, a path or a date as text."""
    if isinstance(value, Policy):
        return value.name
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _estimate_json(value: Estimate) -> dict[str, object]:
    return {"mean": value.mean, "low": value.low, "high": value.high, "n": value.n}


def summary_json(summary: Summary) -> dict[str, Any]:
    """The summary as JSON: metric keys as in ``broker.simulation.results``, policies by
    name (``strict/ranked/excluded``), a missing figure as null."""
    policies: dict[str, object] = {}
    for policy in summary.policies:
        difference = summary.differences.get(policy.name)
        policies[policy.name] = {
            "metrics": {
                key: _estimate_json(value) for key, value in summary.estimates[policy.name].items()
            },
            "difference_from_first": None
            if difference is None
            else {
                key: {**_estimate_json(value), "excludes_zero": value.excludes_zero}
                for key, value in difference.items()
            },
        }
    document = {
        "settings": summary.settings,
        "seeds": list(summary.seeds),
        "first_policy": summary.baseline.name,
        "metrics": {
            metric.key: {"label": metric.label, "unit": metric.unit, "better": metric.better}
            for metric in summary.metrics
        },
        "policies": policies,
        "daily": {
            name: {"occupancy": series.occupancy, "turned_away": series.turned_away}
            for name, series in summary.daily.items()
        },
    }
    # an infinite figure would make the file unreadable to strict JSON readers
    plain = _plain(document)
    assert isinstance(plain, dict)
    return plain


def _cell(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return repr(float(value))


def runs_csv(results: Sequence[RunResult], metrics: Sequence[Metric]) -> str:
    """One row per seed and policy (by seed, then policies in the order they first come):
    seed, policy, every metric, seconds. A metric the run could not measure is empty."""
    order = {
        name: index for index, name in enumerate(dict.fromkeys(r.policy.name for r in results))
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["seed", "policy", *(metric.key for metric in metrics), "seconds"])
    for result in sorted(results, key=lambda r: (r.seed, order[r.policy.name])):
        writer.writerow(
            [
                result.seed,
                result.policy.name,
                *(_cell(result.metrics.get(metric.key)) for metric in metrics),
                _cell(result.seconds),
            ]
        )
    return out.getvalue()
