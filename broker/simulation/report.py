"""report.html: a simulation's summary as one standalone page, written for a Ministry reader.

The headline comes first: per policy, families turned away, stays cut off at their limit and
occupancy by kind, each with its 95 % interval and its difference from the first policy in
plain words. Charts follow, each with a table of the same numbers under it, then every
measure. The page is a file that may be mailed or archived: inline SVG and an inline style,
no script and nothing fetched from anywhere.

Words come from the catalogues in the language asked for; numbers are written the reader's
way (a decimal comma and a space between thousands in Hungarian). The markup is the
template ``templates/simulation_report.html``, autoescaped, so a policy, network or kind
name from configuration cannot add markup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, format_percent
from jinja2 import Environment, FileSystemLoader

from broker.domain.charts import interval_chart, line_chart
from broker.i18n import N_, Catalogues, Locale, check_language, gettext, ngettext, using
from broker.settings import PROJECT_ROOT
from broker.simulation.results import OCCUPANCY_PREFIX, Metric
from broker.simulation.summary import Estimate, Summary

TEMPLATE = "simulation_report.html"
BABEL_LOCALES = {"hu": "hu_HU", "en": "en_GB"}
# What a Ministry reader asked first; occupancy by kind joins them (occupancy.<kind>).
HEADLINE = ("families_turned_away", "limit_reached_no_next_place", "occupancy")
AXIS_LABELS = {
    "count": N_("number over the whole run"),
    "share": N_("share"),
    "days": N_("days"),
    "km": N_("km"),
}
# The words of a policy's name, said for a reader who does not know the broker's settings.
PART_MEANINGS = {
    "strict": N_(
        "transfers as the national protocol has them: a family moves only when her stay "
        "ends, to a free place of the next tier"
    ),
    "flexible": N_(
        "near the end of her stay a family first moves inside her own house, to a kind "
        "with a stay clock of its own"
    ),
    "first_fit": N_(
        "places found by phoning round: the first facility, in a fixed order, that takes the family"
    ),
    "ranked": N_("places found by the broker's ranking during the call"),
    "optimised": N_(
        "families who can wait a few hours are placed together by the planner twice a day; "
        "urgent ones are placed at once by the ranking"
    ),
    "excluded": N_("a woman who went back to the perpetrator is not taken back"),
    "assessed": N_(
        "some of the women who went back to the perpetrator pass an assessment and are "
        "looked for like anyone else"
    ),
}
# A figure the runs did not give, and the joint between an interval's ends: en dashes,
# as print has them.
NONE = "\u2013"
BETWEEN = " \u2013 "
# The line charts' days are drawn on a calendar of their own: day 1 is this date.
_DAY_ONE = date(2001, 1, 1)


@functools.cache
def _catalogues() -> Catalogues:
    return Catalogues(PROJECT_ROOT / "data" / "locale")


@functools.cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(PROJECT_ROOT / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True
    )
    return environment


@dataclass(frozen=True, slots=True)
class _Numbers:
    """Numbers written in one language's way."""

    locale: str

    def value(self, unit: str, value: float | None) -> str:
        if value is None:
            return NONE
        if unit == "share":
            return format_percent(value, "#,##0.0%", locale=self.locale)
        return format_decimal(value, "#,##0.0", locale=self.locale)

    def axis(self, unit: str) -> Callable[[float], str]:
        """A chart's axis: round ticks need no decimal."""
        if unit == "share":
            return lambda value: format_percent(value, "#,##0.#%", locale=self.locale)
        return lambda value: format_decimal(value, "#,##0.#", locale=self.locale)

    def difference(self, unit: str, value: float | None) -> str:
        if value is None:
            return NONE
        if unit == "share":
            # a change of a share is said in percentage points, never in per cent of it
            return gettext("{value} percentage points").format(value=self._signed(value * 100))
        return self._signed(value)

    def _signed(self, value: float) -> str:
        return format_decimal(value, "+#,##0.0;-#,##0.0", locale=self.locale)

    def day(self, day: date) -> str:
        return format_date(day, "short", locale=self.locale)

    def interval(self, unit: str, found: Estimate, *, signed: bool = False) -> str:
        if found.low is None or found.high is None:
            return gettext("none (one seed)") if found.n == 1 else NONE
        if not signed:
            return self.value(unit, found.low) + BETWEEN + self.value(unit, found.high)
        if unit == "share":  # the unit once, after both ends
            ends = [self._signed(value * 100) for value in (found.low, found.high)]
            return gettext("{value} percentage points").format(value=BETWEEN.join(ends))
        return self._signed(found.low) + BETWEEN + self._signed(found.high)


def _verdict(difference: Estimate, better: str) -> str:
    """What a paired difference from the first policy says, in one sentence."""
    if difference.mean is None:
        return gettext("No figure to compare.")
    if difference.low is None or difference.high is None:
        return gettext("One seed only: no interval, so no verdict.")
    if difference.low == difference.high == 0:
        return gettext("The same in every seed.")
    if not difference.excludes_zero:
        return gettext("Not distinguishable from chance: the interval includes zero.")
    higher = difference.mean > 0
    if not better:
        return (
            gettext("Higher; the difference is certain at 95 %.")
            if higher
            else gettext("Lower; the difference is certain at 95 %.")
        )
    if higher == (better == "higher"):
        return (
            gettext("Higher, which is better; the difference is certain at 95 %.")
            if higher
            else gettext("Lower, which is better; the difference is certain at 95 %.")
        )
    return (
        gettext("Higher, which is worse; the difference is certain at 95 %.")
        if higher
        else gettext("Lower, which is worse; the difference is certain at 95 %.")
    )


def _label(metric: Metric) -> str:
    """A metric's name for the reader; a kind's occupancy says it is occupancy."""
    if metric.key.startswith(OCCUPANCY_PREFIX):
        return gettext("Occupancy: {kind}").format(kind=gettext(metric.label))
    return gettext(metric.label)


def _headline(metrics: list[Metric]) -> list[Metric]:
    return [m for m in metrics if m.key in HEADLINE or m.key.startswith(OCCUPANCY_PREFIX)]


def _policy_tables(
    summary: Summary, metrics: list[Metric], numbers: _Numbers
) -> list[dict[str, Any]]:
    tables = []
    for policy in summary.policies:
        differences = summary.differences.get(policy.name)
        rows = []
        for metric in metrics:
            found = summary.estimates[policy.name][metric.key]
            row: dict[str, object] = {
                "label": _label(metric),
                "mean": numbers.value(metric.unit, found.mean),
                "interval": numbers.interval(metric.unit, found),
            }
            if differences is not None:
                difference = differences[metric.key]
                row |= {
                    "difference": numbers.difference(metric.unit, difference.mean),
                    "difference_interval": numbers.interval(metric.unit, difference, signed=True),
                    "verdict": _verdict(difference, metric.better),
                    "certain": bool(difference.excludes_zero),
                }
            rows.append(row)
        tables.append({"name": policy.name, "first": differences is None, "rows": rows})
    return tables


def _metric_charts(
    summary: Summary, metrics: list[Metric], numbers: _Numbers
) -> list[dict[str, Any]]:
    charts = []
    for index, metric in enumerate(metrics):
        label = _label(metric)
        found = [
            (policy.name, summary.estimates[policy.name][metric.key]) for policy in summary.policies
        ]
        charts.append(
            {
                "id": f"metric-{index}",
                "label": label,
                "svg": interval_chart(
                    [(name, one.mean, one.low, one.high) for name, one in found],
                    title=gettext("{measure}: mean over the seeds, with its 95 % interval").format(
                        measure=label
                    ),
                    x_label=gettext(AXIS_LABELS.get(metric.unit, metric.unit)),
                    value_text=functools.partial(numbers.value, metric.unit),
                    tick_text=numbers.axis(metric.unit),
                    heading=label,
                    no_figures=gettext("No figures"),
                ),
                "rows": [
                    (name, numbers.value(metric.unit, one.mean), numbers.interval(metric.unit, one))
                    for name, one in found
                ],
            }
        )
    return charts


def _day_words(numbers: _Numbers, start: date | None) -> Callable[[date, int], str]:
    def word(day: date, span: int) -> str:
        if start is not None:
            return format_skeleton("MMMd", start + (day - _DAY_ONE), locale=numbers.locale)
        return gettext("day {number}").format(number=(day - _DAY_ONE).days + 1)

    return word


def _daily_charts(summary: Summary, numbers: _Numbers) -> list[dict[str, Any]]:
    labels = {
        m.key.removeprefix(OCCUPANCY_PREFIX): gettext(m.label)
        for m in summary.metrics
        if m.key.startswith(OCCUPANCY_PREFIX)
    }
    start = summary.settings.get("start")
    start = start if isinstance(start, date) else None
    charts = []
    for index, policy in enumerate(summary.policies):
        occupancy = summary.daily[policy.name].occupancy
        names = [labels.get(kind, kind) for kind in occupancy]
        days = max((len(values) for values in occupancy.values()), default=0)
        series: dict[str, list[tuple[date, float | None]]] = {
            name: [(_DAY_ONE + timedelta(days=day), value) for day, value in enumerate(values)]
            for name, values in zip(names, occupancy.values(), strict=True)
        }
        rows = []
        for day in range(days):
            shares = [values[day] if day < len(values) else None for values in occupancy.values()]
            when = str(day + 1) if start is None else numbers.day(start + timedelta(days=day))
            rows.append((when, [numbers.value("share", share) for share in shares]))
        charts.append(
            {
                "id": f"daily-{index}",
                "policy": policy.name,
                "svg": line_chart(
                    series,
                    title=gettext("Occupancy by kind, day by day, under {policy}").format(
                        policy=policy.name
                    ),
                    y_label=gettext("share of units occupied"),
                    no_figures=gettext("No figures"),
                    date_label=_day_words(numbers, start),
                ),
                "kinds": names,
                "rows": rows,
            }
        )
    return charts


def _context(summary: Summary, language: str) -> dict[str, Any]:
    numbers = _Numbers(BABEL_LOCALES[language])
    headline = _headline(summary.metrics)
    daily = summary.daily[summary.baseline.name]
    days = summary.settings.get("days") or max(
        [len(daily.turned_away), *(len(values) for values in daily.occupancy.values())]
    )
    used = dict.fromkeys(
        part
        for policy in summary.policies
        for part in (policy.transfers, policy.matching, policy.reentry)
    )
    return {
        "language": language,
        "days": days,
        "seeds": len(summary.seeds),
        "network": summary.settings.get("network") or NONE,
        "policy_names": [policy.name for policy in summary.policies],
        "first": summary.baseline.name,
        "parts": [(part, gettext(PART_MEANINGS[part])) for part in used if part in PART_MEANINGS],
        "headline": _policy_tables(summary, headline, numbers),
        "metric_charts": _metric_charts(summary, headline, numbers),
        "daily_charts": _daily_charts(summary, numbers),
        "everything": _policy_tables(summary, summary.metrics, numbers),
    }


def report_html(summary: Summary, *, language: str) -> str:
    """The report as one HTML document in ``language`` ("hu" or "en")."""
    check_language(language)
    locale = Locale(language, translations=_catalogues().translations(language))
    with using(locale):
        return _environment().get_template(TEMPLATE).render(**_context(summary, language))
