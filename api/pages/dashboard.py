"""The statistics dashboard page: occupancy by kind and by region, unmet requests per week.

It shows the daily snapshots only (``broker.services.statistics``), never live rows, so
every number on it has passed small-count suppression. The days end at yesterday, or at
today when the figures were taken today already. The charts are inline SVG drawn on
the server; each has a table of the same numbers under it.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Annotated, Any

from babel.dates import format_date, format_skeleton
from litestar import get
from litestar.params import QueryParameter
from litestar.response import Template

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from broker.domain.access import Role
from broker.domain.charts import bar_chart, line_chart
from broker.domain.statistics import latest_share, mean_share
from broker.i18n import N_, current, gettext
from broker.services import statistics
from broker.services.statistics import DashboardData, SeriesPoints

DEFAULT_DAYS, MAX_DAYS = 56, 366
DAY_CHOICES = (28, 56, 91, 182, 366)
ALL_KINDS = N_("all kinds")
# Days as the reader writes them: "2026. 11. 29." in Hungarian, "29/11/2026" in English (the
# same forms as broker.i18n's times).
DATE_LOCALES = {"hu": "hu_HU", "en": "en_GB"}


@get(
    "/dashboard",
    opt=allow(Role.COUNSELLOR, Role.ADMIN, via="cookie"),
    sync_to_thread=True,
)
def dashboard_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    days: Annotated[int, QueryParameter(ge=1, le=MAX_DAYS)] = DEFAULT_DAYS,
) -> Template:
    today = now.astimezone(UTC).date()
    until = statistics.dashboard_until(session=db, today=today)
    data = statistics.dashboard_series(
        session=db,
        since=until - timedelta(days=days - 1),
        until=until,
        min_count=broker.settings.stats_min_count,
    )
    context = _dashboard_page(data, broker, actor, days)
    return Template("dashboard.html", context={**context, "partial_day": until >= today})


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _locale() -> str:
    return DATE_LOCALES.get(current().language, "en_GB")


def day_text(day: date) -> str:
    """A statistics day (a UTC day, not a moment) in the reader's form."""
    return format_date(day, "short", locale=_locale())


def _week_label(week: date) -> str:
    return format_skeleton("MMMd", week, locale=_locale())


def _axis_label(day: date, span_days: int) -> str:
    """A day on a chart's time axis: month and year over a long span, else month and day."""
    return format_skeleton("yMMM" if span_days > 200 else "MMMd", day, locale=_locale())


def _dashboard_page(data: DashboardData, broker: Broker, actor: Actor, days: int) -> dict[str, Any]:
    labels = broker.rules.kind_labels
    # Rules order (tier by tier) for kinds, the regions file's order for regions.
    by_kind: dict[str, SeriesPoints] = {gettext(ALL_KINDS): data.national}
    by_kind.update(
        {gettext(labels[kind]): data.by_kind[kind] for kind in labels if kind in data.by_kind}
        | {kind: points for kind, points in data.by_kind.items() if kind not in labels}
    )
    empty: SeriesPoints = [(day, None) for day in data.days]
    # Only regions that had units: one without any facility has no figure to hide, and
    # naming it among those "below the minimum" would say it had some.
    counted = data.counted_regions
    regions = [
        *(region for region in broker.rules.regions if region in counted),
        *sorted(counted - set(broker.rules.regions)),
    ]
    region_rows = []
    for region in regions:
        points = data.by_region.get(region, empty)
        shown_days = sum(1 for _, value in points if value is not None)
        region_rows.append(
            {
                "name": region,
                # a region without any figure gets a line in the table, not an empty chart
                "chart": line_chart(
                    {region: points},
                    title=gettext("Occupied share of units in %(region)s") % {"region": region},
                    heading=region,
                    y_label=gettext("units"),
                    width=250,
                    height=130,
                    legend=False,
                    no_figures=gettext("No figures for these days"),
                    date_label=_axis_label,
                )
                if shown_days
                else None,
                "mean": _percent(mean_share(points)),
                "latest": _percent(latest_share(points)),
                "shown_days": shown_days,
            }
        )
    suppressed_label = gettext("fewer than %(min)s") % {"min": data.min_count}
    return {
        "actor": actor,
        "days": days,
        "day_choices": sorted({*DAY_CHOICES, days}),
        "since": data.since,
        "until": data.until,
        "min_count": data.min_count,
        "has_figures": data.has_figures,
        "day_text": day_text,
        "kind_chart": line_chart(
            by_kind,
            title=gettext("Occupied share of units by kind"),
            y_label=gettext("units occupied"),
            no_figures=gettext("No figures for these days"),
            date_label=_axis_label,
        ),
        "kind_names": list(by_kind),
        "kind_rows": [
            (day, [_percent(points[index][1]) for points in by_kind.values()])
            for index, day in enumerate(data.days)
        ],
        "regions": region_rows,
        "unmet_chart": bar_chart(
            [(_week_label(week), cases) for week, cases in data.unmet_weeks],
            title=gettext("Unmet requests per week (cases, not searches)"),
            y_label=gettext("cases"),
            min_count=data.min_count,
            no_figures=gettext("No figures for these days"),
            suppressed=gettext("{label}: fewer than {min_count}, not shown"),
        ),
        "unmet_rows": [
            (week, suppressed_label if cases is None else str(cases))
            for week, cases in data.unmet_weeks
        ],
    }
