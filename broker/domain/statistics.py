"""Aggregate figures that may leave the broker: regional, by kind, small counts suppressed.

A count between 1 and ``min_count - 1`` could point at one family in one small place, so it
is stored and shown as suppressed (None), never as the number. Zero is kept: "no one" tells
nothing about anyone. Occupancy is a share of units, computed only from unsuppressed counts.

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


def suppressed(count: int, min_count: int) -> int | None:
    return count if count == 0 or count >= min_count else None


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


def pooled_occupancy(cells: Iterable[OccupancyCell]) -> float | None:
    """Occupied share of units over the cells whose counts are both shown; a suppressed
    cell is left out whole, so the share never hides a small count inside a larger one."""
    occupied = total = 0
    for cell in cells:
        if cell.units_total is None or cell.units_occupied is None:
            continue
        occupied += cell.units_occupied
        total += cell.units_total
    return occupied / total if total else None


def mean_share(points: Sequence[tuple[date, float | None]]) -> float | None:
    shown = [value for _, value in points if value is not None]
    return sum(shown) / len(shown) if shown else None


def latest_share(points: Sequence[tuple[date, float | None]]) -> float | None:
    return next((value for _, value in reversed(points) if value is not None), None)
