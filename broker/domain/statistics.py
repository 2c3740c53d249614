"""Aggregate figures that may leave the broker: regional, by kind, small counts suppressed.

A count between 1 and ``min_count - 1`` could point at one family in one small place, so it
is stored and shown as suppressed (None), never as the number. Zero is kept: "no one" tells
nothing about anyone. Occupancy is a share of units, computed only from unsuppressed counts.

A region over every kind, a kind over every region and the whole country are figures of their
own, summed from all their units before suppression and suppressed only when their own count
is small: pooling only the cells that survived suppression would read "5 of 5 units" for a
country where 10 of 120 are occupied.

Unmet requests are counted once per case: the counsellor searching again for the same family
during one call (or the same day) is one case, however many searches it took.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# Keeps case keys apart from every other digest made with the same secret.
UNMET_CASE_CONTEXT = b"unmet-case-v1"


# The region (or kind) of a figure over every region (or kind). The aggregates are stored
# beside the cells, in the same table, under this name; no region or kind has an empty name.
ALL = ""


def suppressed(count: int, min_count: int) -> int | None:
    return count if count == 0 or count >= min_count else None


@dataclass(frozen=True, slots=True)
class DayCounts:
    """One day's counts for a region and kind, or an aggregate of them, before suppression."""

    units_total: int
    units_occupied: int
    placements_started: int

    def __add__(self, other: DayCounts) -> DayCounts:
        return DayCounts(
            self.units_total + other.units_total,
            self.units_occupied + other.units_occupied,
            self.placements_started + other.placements_started,
        )


def with_aggregates(cells: Mapping[tuple[str, str], DayCounts]) -> dict[tuple[str, str], DayCounts]:
    """The cells, keyed (region, kind), and the sums of all of them per region
    ``(region, ALL)``, per kind ``(ALL, kind)`` and for the country ``(ALL, ALL)``. Summed
    before any suppression, so an aggregate counts every unit, and is suppressed (by the
    caller) only when its own count is small. No cells, no aggregates."""
    figures = dict(cells)
    zero = DayCounts(0, 0, 0)
    for (region, kind), counts in cells.items():
        for key in ((region, ALL), (ALL, kind), (ALL, ALL)):
            figures[key] = figures.get(key, zero) + counts
    return figures


def _lines(keys: Iterable[tuple[str, str]]) -> list[tuple[tuple[str, str], list[tuple[str, str]]]]:
    """Every total of region-and-kind cells and the cells it adds up: a region over its
    kinds, a kind over its regions."""
    cells = [key for key in keys if ALL not in key]
    regions = sorted({region for region, _ in cells})
    kinds = sorted({kind for _, kind in cells})
    lines = [((r, ALL), [(r, k) for k in kinds if (r, k) in cells]) for r in regions]
    lines += [((ALL, k), [(r, k) for r in regions if (r, k) in cells]) for k in kinds]
    return lines


def shown_counts(
    counts: Mapping[tuple[str, str], int], min_count: int
) -> dict[tuple[str, str], int | None]:
    """Each count as it may be shown: small ones suppressed, and then more region-and-kind
    cells (complementary suppression), so that no suppressed cell can be worked out by
    subtracting the shown cells of a region or a kind from its shown total: wherever a
    total is shown and exactly one cell under it is hidden, the smallest other cell under
    it that is not alone in its other line is hidden too, until no such total is left.
    Totals themselves are suppressed only when they are small. What that leaves open: a
    small total of a kind or a region can be had by subtracting the other kinds' or
    regions' totals from the country's.
    Every count is kept exactly as it is; only which ones are shown changes."""
    hidden = {key for key, count in counts.items() if suppressed(count, min_count) is None}
    lines = [(total, members) for total, members in _lines(counts) if total in counts]
    alone = {members[0] for _, members in lines if len(members) == 1}
    changed = True
    while changed:
        changed = False
        for total, members in lines:
            if total in hidden:
                continue
            concealed = [key for key in members if key in hidden]
            if len(concealed) != 1:
                continue
            others = sorted(
                (counts[key], key) for key in members if key not in hidden and key not in alone
            )
            if others:
                hidden.add(others[0][1])
                changed = True
    return {key: None if key in hidden else count for key, count in counts.items()}


@dataclass(frozen=True, slots=True)
class OccupancyCell:
    """One region and kind on one day."""

    day: date
    region: str
    kind: str
    units_total: int | None
    units_occupied: int | None


def occupancy_cell(
    *, day: date, region: str, kind: str, units_total: int, units_occupied: int, min_count: int
) -> OccupancyCell:
    return OccupancyCell(
        day=day,
        region=region,
        kind=kind,
        units_total=suppressed(units_total, min_count),
        units_occupied=suppressed(units_occupied, min_count),
    )


def week_start(day: date) -> date:
    """The Monday of the day's ISO week."""
    return day - timedelta(days=day.weekday())


def weekly_totals(daily: dict[date, int]) -> dict[date, int]:
    weeks: dict[date, int] = {}
    for day, count in daily.items():
        weeks[week_start(day)] = weeks.get(week_start(day), 0) + count
    return dict(sorted(weeks.items()))


def unmet_case_key(
    key: bytes, *, counsellor_user_id: int, day: date, request: Mapping[str, Any]
) -> str:
    """The case a search belongs to: one counsellor, one day, one family composition and
    risk level. Needs, regions and the order the people were typed in do not make a new
    case, so refining a search during the call is still the same case. The HMAC keeps the
    composition out of the database in the clear."""
    family = request["family"]

    def people(group: str) -> list[tuple[int, str]]:
        return sorted((int(person["age"]), str(person["sex"])) for person in family[group])

    message = json.dumps(
        [
            counsellor_user_id,
            day.isoformat(),
            people("adults"),
            people("children"),
            str(request.get("risk", "standard")),
        ],
        separators=(",", ":"),
    )
    return hmac.new(key, UNMET_CASE_CONTEXT + b"\0" + message.encode(), hashlib.sha256).hexdigest()


def occupancy_share(cell: OccupancyCell) -> float | None:
    """Occupied share of one row's units; None where either count is suppressed or there
    are no units."""
    if cell.units_total is None or cell.units_occupied is None or cell.units_total == 0:
        return None
    return cell.units_occupied / cell.units_total


def complete_occupancy(cells: Iterable[OccupancyCell]) -> float | None:
    """Occupied share of units over all of ``cells``, only when every count among them is
    shown: the cells of one region, kind or the country then add up to its true figure. With
    a single count suppressed there is no figure, rather than a share of the cells that
    happened to be large (the very figure that misleads)."""
    occupied = total = 0
    for cell in cells:
        if cell.units_total is None or cell.units_occupied is None:
            return None
        occupied += cell.units_occupied
        total += cell.units_total
    return occupied / total if total else None


def mean_share(points: Sequence[tuple[date, float | None]]) -> float | None:
    shown = [value for _, value in points if value is not None]
    return sum(shown) / len(shown) if shown else None


def latest_share(points: Sequence[tuple[date, float | None]]) -> float | None:
    return next((value for _, value in reversed(points) if value is not None), None)
