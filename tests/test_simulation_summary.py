"""The simulator's summary and its files: means and 95 % intervals worked out by hand, the
paired difference from the first policy, summary.json and runs.csv, and report.html: one
standalone page, in Hungarian or in English, with a table under every chart.

Results are built by hand here: no engine runs."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date
from pathlib import Path

import pytest

from broker.domain.charts import interval_chart
from broker.simulation.outputs import write_simulation_files
from broker.simulation.policies import Policy
from broker.simulation.report import report_html
from broker.simulation.results import METRICS, Metric, RunResult, occupancy_metric
from broker.simulation.runner import SimulationOutcome, SimulationSpec
from broker.simulation.summary import (
    Estimate,
    estimate,
    runs_csv,
    summarise,
    summary_json,
    t_quantile_975,
)

STRICT = Policy()
FLEXIBLE = Policy("flexible")
FIRST_FIT = Policy("strict", "first_fit")
TURNED_AWAY = "families_turned_away"
TURNED_AWAY_METRIC = next(metric for metric in METRICS if metric.key == TURNED_AWAY)
CRISIS = occupancy_metric("crisis", "Crisis centre")
ALL_METRICS = [*METRICS, CRISIS]


def run(
    seed: int,
    policy: Policy,
    metrics: dict[str, float] | None = None,
    *,
    occupancy: dict[str, list[float]] | None = None,
    turned_away: list[int] | None = None,
) -> RunResult:
    return RunResult(
        seed=seed,
        policy=policy,
        metrics=metrics or {},
        daily_occupancy=occupancy or {},
        daily_turned_away=turned_away or [],
        seconds=1.25,
    )


# --- the t quantiles ------------------------------------------------------------------------


def _t_cdf(q: float, df: int) -> float:
    """Student's t distribution function at q > 0, by Simpson's rule on the density."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(t: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))

    steps = 4000
    h = q / steps
    total = density(0) + density(q)
    total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return 0.5 + total * h / 3


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 10, 15, 29, 30, 31, 40, 60, 120, 500])
def test_the_t_quantile_leaves_two_and_a_half_per_cent_above_it(df: int) -> None:
    assert _t_cdf(t_quantile_975(df), df) == pytest.approx(0.975, abs=2e-6)


def test_the_t_quantiles_of_the_printed_tables() -> None:
    printed = {1: 12.706, 2: 4.303, 3: 3.182, 10: 2.228, 30: 2.042, 60: 2.000, 120: 1.980}
    assert {df: round(t_quantile_975(df), 3) for df in printed} == printed
    with pytest.raises(ValueError):
        t_quantile_975(0)


# --- one sample -----------------------------------------------------------------------------


def test_mean_and_interval_of_one_to_four_as_worked_out_by_hand() -> None:
    # mean 2.5; sd = sqrt(5/3) = 1.291; se = 0.6455; t(3) = 3.182; half-width 2.054
    found = estimate([1, 2, 3, 4])
    assert found.mean == 2.5
    assert found.n == 4
    assert found.low == pytest.approx(2.5 - 2.054, abs=1e-3)
    assert found.high == pytest.approx(2.5 + 2.054, abs=1e-3)
    assert found.excludes_zero is True


def test_two_values_give_the_wide_interval_of_one_degree_of_freedom() -> None:
    # mean 11; sd = sqrt(2); se = 1; t(1) = 12.706
    found = estimate([10, 12])
    assert (found.low, found.high) == pytest.approx((11 - 12.706, 11 + 12.706), abs=1e-3)
    assert found.excludes_zero is False


def test_one_value_has_no_interval_and_none_has_no_mean() -> None:
    assert estimate([7.0]) == Estimate(7.0, None, None, 1)
    assert estimate([7.0]).excludes_zero is None
    nothing = estimate([])
    assert (nothing.mean, nothing.low, nothing.high, nothing.n) == (None, None, None, 0)
    assert estimate([math.nan, 4.0, 6.0]).mean == 5.0  # a run that could not measure it
    assert estimate([math.nan, 4.0, 6.0]).n == 2


# --- policies over seeds ----------------------------------------------------------------------


def test_a_constant_difference_per_seed_is_certain_though_the_seeds_vary_widely() -> None:
    """Common random numbers: the seeds differ a lot, the policies by exactly 5 in each."""
    base = {1: 10.0, 2: 50.0, 3: 90.0, 4: 30.0}
    results = [run(s, STRICT, {TURNED_AWAY: v}) for s, v in base.items()]
    results += [run(s, FLEXIBLE, {TURNED_AWAY: v + 5}) for s, v in base.items()]
    summary = summarise(results, [STRICT, FLEXIBLE], [TURNED_AWAY_METRIC])
    own = summary.estimates[FLEXIBLE.name][TURNED_AWAY]
    assert own.mean == 50.0
    assert own.low is not None and own.high is not None
    assert own.low < 45 < own.high  # its own interval holds the first policy's mean
    difference = summary.differences[FLEXIBLE.name][TURNED_AWAY]
    assert (difference.mean, difference.low, difference.high, difference.n) == (5, 5, 5, 4)
    assert difference.excludes_zero is True
    assert STRICT.name not in summary.differences


def test_a_varying_difference_as_worked_out_by_hand() -> None:
    # per-seed differences 1, 3, 2, 6: mean 3; sd = sqrt(14/3) = 2.160; se = 1.080;
    # half-width 3.182 * 1.080 = 3.437, so the interval holds zero
    base = {1: 20.0, 2: 40.0, 3: 10.0, 4: 0.0}
    other = {1: 21.0, 2: 43.0, 3: 12.0, 4: 6.0}
    results = [run(s, STRICT, {TURNED_AWAY: v}) for s, v in base.items()]
    results += [run(s, FIRST_FIT, {TURNED_AWAY: v}) for s, v in other.items()]
    results.append(run(9, STRICT, {TURNED_AWAY: 1000.0}))  # no partner: not in the difference
    summary = summarise(results, [STRICT, FIRST_FIT], [TURNED_AWAY_METRIC])
    difference = summary.differences[FIRST_FIT.name][TURNED_AWAY]
    assert difference.n == 4
    assert difference.mean == pytest.approx(3.0)
    assert difference.low == pytest.approx(3 - 3.437, abs=1e-3)
    assert difference.high == pytest.approx(3 + 3.437, abs=1e-3)
    assert difference.excludes_zero is False
    assert summary.estimates[STRICT.name][TURNED_AWAY].n == 5
    assert summary.seeds == [1, 2, 3, 4, 9]


def test_the_days_are_averaged_over_the_seeds() -> None:
    results = [
        run(1, STRICT, occupancy={"crisis": [0.2, 0.4]}, turned_away=[1, 2]),
        run(2, STRICT, occupancy={"crisis": [0.4, 0.8]}, turned_away=[3, 4]),
    ]
    daily = summarise(results, [STRICT], [CRISIS]).daily[STRICT.name]
    assert daily.occupancy["crisis"] == pytest.approx([0.3, 0.6])
    assert daily.turned_away == [2.0, 3.0]


def test_a_result_of_a_policy_not_named_is_refused() -> None:
    with pytest.raises(ValueError):
        summarise([run(1, FLEXIBLE)], [STRICT], METRICS)


# --- summary.json and runs.csv ----------------------------------------------------------------


def _two_policies(seeds: int = 3) -> tuple[list[RunResult], list[Policy]]:
    results = []
    for seed in range(1, seeds + 1):
        for offset, policy in enumerate((STRICT, FLEXIBLE)):
            results.append(
                run(
                    seed,
                    policy,
                    {
                        TURNED_AWAY: 12345.6 + 10 * seed - 40 * offset,
                        "limit_reached_no_next_place": 7.0 + seed + offset,
                        "occupancy": 0.81 + 0.01 * seed,
                        CRISIS.key: 0.5 + 0.1 * offset + 0.01 * seed,
                    },
                    occupancy={"crisis": [0.5, 0.6, 0.7]},
                    turned_away=[1, 0, 2],
                )
            )
    return results, [STRICT, FLEXIBLE]


def test_summary_json_has_stable_keys() -> None:
    results, policies = _two_policies()
    settings = {"days": 3, "seeds": 3, "network": "demo", "policies": policies}
    document = summary_json(summarise(results, policies, ALL_METRICS, settings))
    json.dumps(document, allow_nan=False)  # plain JSON, missing figures as null
    assert set(document) == {"settings", "seeds", "first_policy", "metrics", "policies", "daily"}
    assert document["settings"] == {
        "days": 3,
        "seeds": 3,
        "network": "demo",
        "policies": ["strict/ranked/excluded", "flexible/ranked/excluded"],
    }
    assert document["first_policy"] == "strict/ranked/excluded"
    assert list(document["metrics"]) == [metric.key for metric in ALL_METRICS]
    by_policy = document["policies"]
    assert list(by_policy) == ["strict/ranked/excluded", "flexible/ranked/excluded"]
    first, other = by_policy["strict/ranked/excluded"], by_policy["flexible/ranked/excluded"]
    assert first["difference_from_first"] is None
    assert list(other["difference_from_first"]) == [metric.key for metric in ALL_METRICS]
    turned_away = other["difference_from_first"][TURNED_AWAY]
    assert turned_away == {
        "mean": -40.0,
        "low": -40.0,
        "high": -40.0,
        "n": 3,
        "excludes_zero": True,
    }
    assert first["metrics"]["mean_km_from_preferred"] == {
        "mean": None,
        "low": None,
        "high": None,
        "n": 0,
    }
    assert document["daily"]["flexible/ranked/excluded"] == {
        "occupancy": {"crisis": pytest.approx([0.5, 0.6, 0.7])},
        "turned_away": [1.0, 0.0, 2.0],
    }


def test_runs_csv_has_a_row_per_seed_and_policy() -> None:
    results, _ = _two_policies(seeds=2)
    rows = list(csv.reader(io.StringIO(runs_csv(list(reversed(results)), ALL_METRICS))))
    assert rows[0] == ["seed", "policy", *(metric.key for metric in ALL_METRICS), "seconds"]
    assert [(row[0], row[1]) for row in rows[1:]] == [
        ("1", "flexible/ranked/excluded"),
        ("1", "strict/ranked/excluded"),
        ("2", "flexible/ranked/excluded"),
        ("2", "strict/ranked/excluded"),
    ]
    header = rows[0]
    flexible_first = dict(zip(header, rows[1], strict=True))
    assert float(flexible_first[TURNED_AWAY]) == 12345.6 + 10 - 40
    assert flexible_first["mean_km_from_preferred"] == ""  # not measured in that run
    assert float(flexible_first["seconds"]) == 1.25


def test_write_simulation_files_writes_the_three_files(tmp_path: Path) -> None:
    results, policies = _two_policies()
    outcome = SimulationOutcome(
        spec=SimulationSpec(days=3, seeds=3, policies=tuple(policies)),
        results=results,
        seconds=0.0,
        kinds={"crisis": "Crisis centre"},
        network_units={"crisis": 10},
    )
    out = tmp_path / "new" / "folder"
    paths = write_simulation_files(outcome, out, language="en")
    assert paths == [out / "summary.json", out / "runs.csv", out / "report.html"]
    assert json.loads(paths[0].read_text(encoding="utf-8"))["first_policy"] == STRICT.name
    assert len(paths[1].read_text(encoding="utf-8").splitlines()) == 1 + 6
    assert paths[2].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# --- report.html ------------------------------------------------------------------------------


def _report(language: str, seeds: int = 3, **settings: object) -> str:
    results, policies = _two_policies(seeds)
    summary = summarise(results, policies, ALL_METRICS, {"days": 3, "network": "demo", **settings})
    return report_html(summary, language=language)


@pytest.mark.parametrize("language", ["hu", "en"])
def test_the_report_is_standalone(language: str) -> None:
    page = _report(language)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower() and "@import" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"""url\(\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page


def test_every_chart_has_a_table_under_it() -> None:
    page = _report("en")
    pieces = page.split("<svg")
    # a bar chart per headline measure (turned away, cut off at the limit, occupancy, the
    # crisis centres' occupancy) and a line chart per policy
    assert len(pieces) - 1 == 4 + 2
    for after in pieces[1:]:
        assert "</svg>" in after
        assert "<table" in after.split("</svg>", 1)[1], "a chart without its table"


def test_the_report_speaks_hungarian() -> None:
    page = _report("hu")
    assert '<html lang="hu">' in page
    assert "Elutasított családok" in page and "Families turned away" not in page
    assert "Kihasználtság: Krízisközpont" in page and "Crisis centre" not in page
    assert "12\xa0345,6" not in page  # a mean over seeds: 12 365,6 and 12 325,6
    assert "12\xa0365,6" in page  # a decimal comma, a space between thousands
    assert "12,365.6" not in page
    # per seed the flexible policy turns away exactly 40 fewer: lower, and better
    assert "Alacsonyabb, ami kedvezőbb" in page


def test_the_report_speaks_english() -> None:
    page = _report("en")
    assert '<html lang="en">' in page
    assert "Families turned away" in page and "Elutasított" not in page
    assert "Occupancy: Crisis centre" in page
    assert "12,365.6" in page
    assert "Lower, which is better; the difference is certain at 95 %." in page
    # a stay cut off at its limit: one more per seed under the flexible policy
    assert "Higher, which is worse; the difference is certain at 95 %." in page
    assert 'id="one-seed"' not in page


def test_the_days_are_dates_when_the_run_has_a_start() -> None:
    days = re.compile(r'<tr><th scope="row">([^<]*)</th><td class="num">\d+[.,]\d%</td></tr>')
    assert days.findall(_report("en"))[:2] == ["1", "2"]
    assert days.findall(_report("en", start=date(2026, 3, 1)))[:2] == ["01/03/2026", "02/03/2026"]
    assert days.findall(_report("hu", start=date(2026, 3, 1)))[:2] == [
        "2026. 03. 01.",
        "2026. 03. 02.",
    ]


def test_a_difference_that_may_be_chance_is_said_so() -> None:
    results = [
        run(1, STRICT, {TURNED_AWAY: 10}),
        run(2, STRICT, {TURNED_AWAY: 10}),
        run(1, FLEXIBLE, {TURNED_AWAY: 12}),
        run(2, FLEXIBLE, {TURNED_AWAY: 9}),
    ]
    page = report_html(summarise(results, [STRICT, FLEXIBLE], METRICS), language="en")
    assert "Not distinguishable from chance: the interval includes zero." in page
    assert "certain at 95 %." not in page


def test_one_seed_gives_no_interval_and_says_so() -> None:
    page = _report("en", seeds=1)
    assert 'id="one-seed"' in page
    assert "none (one seed)" in page
    assert "One seed only: no interval, so no verdict." in page


def test_names_from_configuration_are_escaped() -> None:
    evil = Policy("<x-evil>", "ranked")
    kind = occupancy_metric("<x-kind>", "<x-label>")
    results = [
        run(seed, policy, {TURNED_AWAY: seed, kind.key: 0.5}, occupancy={"<x-kind>": [0.5]})
        for seed in (1, 2)
        for policy in (STRICT, evil)
    ]
    summary = summarise(results, [STRICT, evil], [*METRICS, kind], {"network": "<x-net>"})
    page = report_html(summary, language="en")
    assert "<x-" not in page
    assert "&lt;x-evil&gt;/ranked/excluded" in page
    assert "&lt;x-label&gt;" in page and "&lt;x-net&gt;" in page


# --- the interval chart -------------------------------------------------------------------------


def test_the_interval_chart_draws_a_bar_and_a_whisker_per_mean() -> None:
    svg = interval_chart(
        [
            ("a<b", 10.0, 4.0, 16.0),
            ("c", -2.0, -5.0, 1.0),
            ("d", 3.0, None, None),
            ("e", None, None, None),
        ],
        title="Means",
        x_label="families",
    )
    assert svg.count('class="bar"') == 3
    assert svg.count('class="whisker"') == 2
    assert "a&lt;b" in svg and "a<b" not in svg
    ticks = [float(t) for t in re.findall(r'text-anchor="middle" fill="#5b6275">(-?[\d.]+)<', svg)]
    assert min(ticks) <= -5 and max(ticks) >= 16 and 0 in ticks


def test_a_metric_label_is_said_in_the_readers_language() -> None:
    """A label the catalogue lacks is shown as it is: the report never loses a measure."""
    odd = Metric("odd", "An unlisted measure", "count", "")
    results = [run(seed, STRICT, {"odd": 1.0}) for seed in (1, 2)]
    page = report_html(summarise(results, [STRICT], [odd]), language="hu")
    assert "An unlisted measure" in page
