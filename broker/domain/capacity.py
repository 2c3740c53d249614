"""What "free" means while holds are open (pure functions).

A shelter's report states the units and beds that are **not occupied by a family the broker
knows has arrived**. A family on its way under an open hold is still free in the report:
the broker subtracts open holds itself, so a hold is never counted twice (by the shelter
and by the broker) and never lost (a new report does not wipe it).

    available       = reported free - open, unexpired holds        (never below 0; no beds
                                                                    offered without a unit)
    hold created    -> nothing stored changes; the hold is subtracted on every read
    hold confirmed  -> reported free -= the family (she is now occupying; never below 0)
    hold declined,
    released or
    expired         -> nothing stored changes; the hold stops being subtracted
    departure or
    transfer out    -> reported free += the family (never above the totals)
    new report      -> replaces reported free; open holds are still subtracted from it;
                       refused when reported free + families staying > the totals

So at every moment ``reported free + staying <= totals`` (units and beds): a facility can
never be offered for more families than it has room for.

An expired hold counts as expired from its ``expires_at`` on, whether or not a job has
closed it yet, because every read compares with the current time.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.errors import Conflict
from broker.i18n import gettext


@dataclass(frozen=True, slots=True)
class Places:
    units: int
    beds: int

    def covers(self, need: Places) -> bool:
        return self.units >= need.units and self.beds >= need.beds


NOTHING = Places(0, 0)


def usable(units: int, beds: int) -> Places:
    """Places a family could actually take: beds without a unit, or a unit without a bed,
    are not offered (the same rule a shelter's own report must follow)."""
    units, beds = max(0, units), max(0, beds)
    if units == 0 or beds == 0:
        return NOTHING
    return Places(min(units, beds), beds)


def available(reported: Places, held: Places) -> Places:
    return usable(reported.units - held.units, reported.beds - held.beds)


def after_arrival(reported: Places, family: Places) -> Places:
    # Stored as counted (a lone bed stays on record so a later departure adds up right);
    # ``available`` decides what can be offered.
    return Places(max(0, reported.units - family.units), max(0, reported.beds - family.beds))


def after_departure(reported: Places, family: Places, totals: Places) -> Places:
    return Places(
        min(totals.units, reported.units + family.units),
        min(totals.beds, reported.beds + family.beds),
    )


def check_room_for_stays(*, free: Places, staying: Places, totals: Places) -> None:
    """A report cannot free places that families placed through the broker still occupy."""
    problems = [
        {
            "field": f"free_{name}",
            "message": gettext("at most {free} ({taken} occupied)").format(
                free=total - taken, taken=taken
            ),
        }
        for name, reported, taken, total in (
            ("units", free.units, staying.units, totals.units),
            ("beds", free.beds, staying.beds, totals.beds),
        )
        if reported + taken > total
    ]
    if problems:
        raise Conflict(
            gettext(
                "families placed through the broker occupy {units} units and {beds} beds here, "
                "so at most {free_units} units and {free_beds} beds can be free; record their "
                "departures first"
            ).format(
                units=staying.units,
                beds=staying.beds,
                free_units=totals.units - staying.units,
                free_beds=totals.beds - staying.beds,
            ),
            details=problems,
        )
