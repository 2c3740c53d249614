"""A simulated past for the demo (``broker demo --history DAYS``): stays, capacity reports,
families turned away and daily statistics, so that the dashboard and the staff pages of a
demo show weeks of plausible data instead of an empty registry.

One seed of the simulator (``SEED``) runs the demo network under the national protocol with
the broker's ranking (``strict/ranked/excluded``). The run starts at midnight UTC ``DAYS``
plus the warm-up days before today, so its counted days are the ``DAYS`` days up to
yesterday and the stays still open at its end are the residents of today. Then:

* every stay becomes a confirmed hold and a placement, with the family's request as the
  simulator drew it (composition, needs, risk; never a name or a birth date, so no one can
  be mistaken for a real person, and no identity hash is written). A stay ended by a
  transfer is chained to the next one as the broker chains transfers (one case, the
  previous placement, the stay clock carried over). Families whose stays had all ended
  before the counted days are left out; a chain that reaches into them is written whole;
* each facility reports its free places at the end of every counted day, up to the moment
  of its last report in the demo file (so that the demo keeps its facilities of different
  report ages, stale ones included), and then counts the open stays as the broker does;
* every family turned away on a counted day is an unmet case of that day;
* ``statistics_snapshot`` writes each counted day's figures, in order.

The rows are written directly (no service records a stay that began and ended in the past,
and most demo facilities have no staff account that could have confirmed it); the writes
keep every invariant ``broker db check`` knows. Nobody did these things, so no audit entries
and no notifications are written for them. The demo loader's capacity reports, which
described an invented present, are replaced by the simulated ones.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broker.db.models import (
    CapacityReport,
    DailyStatistic,
    Facility,
    Hold,
    Operator,
    Placement,
    UnmetCase,
)
from broker.domain.capacity import usable
from broker.domain.requests import request_to_json
from broker.domain.states import HoldState, StayState
from broker.domain.stay import PastStay, prior_days_on_clock, stay_limit
from broker.errors import Conflict, InvalidInput
from broker.i18n import gettext
from broker.services.capacity import capacity_import
from broker.services.context import ServiceContext
from broker.services.holds import CASE_CODE_ALPHABET
from broker.services.statistics import statistics_snapshot, unmet_case_record
from broker.simulation.config import SimulationConfig, load_simulation_config
from broker.simulation.networks import SimNetwork, load_sim_network
from broker.simulation.policies import Policy
from broker.simulation.population import Caller
from broker.simulation.results import History, StayRecord
from broker.simulation.runs import run_once
from broker.simulation.state import RunSpec, SimulationError

MAX_DAYS = 366
SEED = 1
POLICY = Policy("strict", "ranked", "excluded")
# Why a family left early, when the simulator does not say she went back to the partner:
# drawn from these for each family, with a generator of her own (the same on every run).
OTHER_DEPARTURES = ("independent_housing", "family_or_friends", "other_service")
HOURS_PER_DAY = 24.0


def _plural(count: int, one: str, more: str) -> str:
    return f"{count} {one if count == 1 else more}"


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """What was written, for the operator's console."""

    days: int
    stays: int
    open_stays: int
    turned_away: int
    statistics_days: int

    def __str__(self) -> str:
        return (
            f"{_plural(self.days, 'day', 'days')}: {_plural(self.stays, 'stay', 'stays')} "
            f"({self.open_stays} open), "
            f"{_plural(self.turned_away, 'family', 'families')} turned away, "
            f"{_plural(self.statistics_days, 'daily statistic', 'daily statistics')}"
        )


@dataclass(frozen=True, slots=True)
class SimulatedPast:
    """One run whose counted days end at today's midnight, with the callers of its stays."""

    start: datetime  # hour 0 of the run: midnight UTC, warm-up days before the first day
    warm_up_days: int
    days: int
    config: SimulationConfig
    sim: SimNetwork
    history: History
    callers: dict[int, Caller]  # family index -> the caller, for every family that stayed

    @property
    def first_day(self) -> date:
        return (self.start + timedelta(days=self.warm_up_days)).date()

    @property
    def window(self) -> tuple[float, float]:
        """The counted days in hours of the run: [start, end)."""
        first = self.warm_up_days * HOURS_PER_DAY
        return first, first + self.days * HOURS_PER_DAY

    def at(self, hour: float) -> datetime:
        return self.start + timedelta(hours=hour)

    def hour_of(self, moment: datetime) -> float:
        return (moment - self.start).total_seconds() / 3600


def check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(
            gettext("the simulated past is 1 to {most} days long").format(most=MAX_DAYS),
            details=[{"field": "days", "message": f"1-{MAX_DAYS}"}],
        )


def simulate_past(*, context: ServiceContext, days: int, now: datetime) -> SimulatedPast:
    """Run the simulator so that its last counted day is the day before ``now``."""
    check_days(days)
    data_dir = context.settings.data_dir
    config = load_simulation_config(data_dir)
    warm = config.start.warm_up_days
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days + warm), time(), tzinfo=UTC)
    sim = load_sim_network("demo", rules=context.rules, data_dir=data_dir, start=start)
    spec = RunSpec(SEED, POLICY, days, start, keep_history=True)
    result = run_once(spec, config, sim)
    assert result.history is not None
    history = result.history
    return SimulatedPast(
        start=start,
        warm_up_days=warm,
        days=days,
        config=config,
        sim=sim,
        history=history,
        callers=history.callers,
    )


def stay_chains(past: SimulatedPast) -> list[list[StayRecord]]:
    """The stays to write, as cases: a stay, then the one the family moved into when a
    transfer ended it (same family, that very moment), and so on. A family index is not
    a case: the run may draw one first resident twice, for two facilities at once. Cases
    that ended before the counted days are left out."""
    stays = sorted(past.history.stays, key=lambda s: (s.started, s.family, s.facility))
    starting: dict[tuple[int, float], list[int]] = defaultdict(list)
    for index, stay in enumerate(stays):
        starting[(stay.family, stay.started)].append(index)
    following: dict[int, int] = {}
    for index, stay in enumerate(stays):
        if stay.how_it_ended != "transfer":
            continue
        assert stay.ended is not None
        candidates = starting.get((stay.family, stay.ended))
        if not candidates:
            raise SimulationError(f"family {stay.family}: a transfer to no next stay")
        following[index] = candidates.pop(0)
    first_hour, _ = past.window
    chains: list[list[StayRecord]] = []
    for head in sorted(set(range(len(stays))) - set(following.values())):
        chain = [stays[head]]
        while head in following:
            head = following[head]
            chain.append(stays[head])
        if chain[-1].ended is None or chain[-1].ended > first_hour:
            chains.append(chain)
    return chains


def free_at(past: SimulatedPast, hour: float) -> list[tuple[int, int]]:
    """Free (units, beds) of each facility at ``hour``, counted from every stay of the run:
    a stay that ends at the moment has left, one that starts then has arrived."""
    sim = past.sim
    units, beds = list(sim.total_units), list(sim.total_beds)
    for stay in past.history.stays:
        if stay.started <= hour and (stay.ended is None or stay.ended > hour):
            units[stay.facility] -= 1
            beds[stay.facility] -= stay.persons
    return list(zip(units, beds, strict=True))


# --- writing ------------------------------------------------------------------------------


def demo_history_write(
    *, session: Session, context: ServiceContext, days: int, now: datetime
) -> HistorySummary:
    """Write ``days`` simulated past days into a database that has just been loaded with
    the demo network (``broker.network.load_demo``), in the caller's unit of work."""
    check_days(days)
    _check_untouched(session)
    past = simulate_past(context=context, days=days, now=now)
    rows = _demo_facilities(session, past.sim)
    chains = stay_chains(past)
    stays, still_open = _write_stays(session, context, past, rows, chains, now)
    _backdate_registry(session, rows, min([past.start, *(p.started_at for p in stays)]))
    _write_reports(session, past, rows)
    turned_away = _write_unmet(session, context, past)
    session.flush()
    for offset in range(days):
        statistics_snapshot(
            session=session,
            day=past.first_day + timedelta(days=offset),
            min_count=context.settings.stats_min_count,
        )
    return HistorySummary(
        days=days,
        stays=len(stays),
        open_stays=still_open,
        turned_away=turned_away,
        statistics_days=days,
    )


def _check_untouched(session: Session) -> None:
    """Only a demo just loaded: a past written under existing stays or figures would
    contradict them."""
    for table in (Placement, Hold, UnmetCase, DailyStatistic):
        if session.exec(select(table).limit(1)).first() is not None:
            raise Conflict(
                gettext(
                    "a simulated past is written only into a demo network just loaded, "
                    "before any stay, hold or statistic"
                )
            )


def _demo_facilities(session: Session, sim: SimNetwork) -> list[Facility]:
    """The registry's rows in the simulator's order (the demo file's), by name."""
    by_name = {row.name: row for row in session.exec(select(Facility)).all()}
    rows = [by_name.get(state.name) for state in sim.facilities]
    matches = len(by_name) == len(rows) and all(
        row is not None and (row.total_units, row.total_beds) == (units, beds)
        for row, units, beds in zip(rows, sim.total_units, sim.total_beds, strict=True)
    )
    if not matches:
        raise Conflict(gettext("the registry is not the demo network; no simulated past written"))
    return [row for row in rows if row is not None]


class _CaseCodes:
    """Case codes as the broker makes them, none twice (the table is empty: checked)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def new(self) -> str:
        while True:
            raw = "".join(secrets.choice(CASE_CODE_ALPHABET) for _ in range(8))
            code = f"{raw[:4]}-{raw[4:]}"
            if code not in self._used:
                self._used.add(code)
                return code


def _ending(past: SimulatedPast, stay: StayRecord) -> tuple[str, str | None]:
    """The placement's state and end reason (``broker.services.placements``)."""
    if stay.ended is None:
        return StayState.ACTIVE, None
    if stay.how_it_ended == "transfer":
        return StayState.TRANSFERRED, "transferred"
    if stay.how_it_ended == "limit":
        return StayState.DEPARTED, "stay_limit"
    # the run's own draw of whether she went back to the partner (Run.depart)
    went_back = past.callers[stay.family].return_draws[0]
    if went_back < past.config.reentry.returned_to_perpetrator_share:
        return StayState.DEPARTED, "returned_to_partner"
    return StayState.DEPARTED, random.Random(f"{SEED}/{stay.family}").choice(OTHER_DEPARTURES)


def _write_stays(
    session: Session,
    context: ServiceContext,
    past: SimulatedPast,
    rows: list[Facility],
    chains: list[list[StayRecord]],
    now: datetime,
) -> tuple[list[Placement], int]:
    """A confirmed hold and a placement per stay, chained like the broker's transfers."""
    ttl = timedelta(minutes=context.hold_limits.default_minutes)
    codes = _CaseCodes()
    holds: list[Hold] = []
    placements: list[Placement] = []
    for chain in chains:
        previous: Placement | None = None
        earlier: list[PastStay] = []
        request = request_to_json(past.callers[chain[0].family].request)
        for stay in chain:
            facility = rows[stay.facility]
            assert facility.id is not None
            rule = context.rules.kind(facility.kind)
            started = past.at(stay.started)
            ended = None if stay.ended is None else past.at(stay.ended)
            prior = prior_days_on_clock(rule.stay_clock, earlier)
            state, reason = _ending(past, stay)
            # made during the call (or by the transfer) and confirmed on arrival: the
            # simulator has no travel time, so both at the start of the stay
            hold = Hold(
                id=uuid.uuid4().hex,
                facility_id=facility.id,
                counsellor_user_id=None,  # no account made it
                state=HoldState.CONFIRMED,
                units=1,
                beds=stay.persons,
                request=request,
                created_at=started,
                expires_at=started + ttl,
                closed_at=started,
                transfer_from_placement_id=previous.id if previous else None,
            )
            placement_id = uuid.uuid4().hex
            placement = Placement(
                id=placement_id,
                case_code=codes.new(),
                case_id=previous.case_id if previous else placement_id,
                facility_id=facility.id,
                hold_id=hold.id,
                request=request,
                units=1,
                beds=stay.persons,
                state=state,
                started_at=started,
                prior_days=prior,
                limit_at=stay_limit(rule, started, prior),
                ended_at=ended,
                end_reason=reason,
                previous_placement_id=previous.id if previous else None,
            )
            holds.append(hold)
            placements.append(placement)
            earlier.append(PastStay(rule.stay_clock, started, ended or now))
            previous = placement
    # holds before the stays made from them, and each stay after the one it follows
    session.add_all(holds)
    session.flush()
    session.add_all(placements)
    session.flush()
    return placements, sum(1 for p in placements if p.state == StayState.ACTIVE)


def _backdate_registry(session: Session, rows: list[Facility], since: datetime) -> None:
    """The facilities (and their operators) existed before the first simulated stay: the
    daily statistics leave out facilities registered after the day they count."""
    for row in rows:
        row.created_at = min(row.created_at, since)
        session.add(row)
        operator = session.get(Operator, row.operator_id)
        if operator is not None:
            operator.created_at = min(operator.created_at, since)
            session.add(operator)


def _write_reports(session: Session, past: SimulatedPast, rows: list[Facility]) -> None:
    """Each facility's report at the end of every counted day, then its last report at the
    time the demo file gives it; after that its free places follow the open stays.

    A report says the places a family could use (a lone bed without a unit is not
    reported, ``broker.domain.capacity.usable``), while the stored free places are kept as
    counted, the way an arrival or a departure moves them, so that they are exactly the
    totals minus the open stays."""
    facility_ids = [row.id for row in rows]
    last_at = {row.id: row.capacity_reported_at for row in rows}
    # the demo loader's reports (written in this unit of work) described an invented
    # present; the simulated one replaces them, keeping only each facility's report time
    session.execute(
        sa.delete(CapacityReport).where(col(CapacityReport.facility_id).in_(facility_ids))
    )
    days_end = past.history.free_at_day_end
    first_hour, end_hour = past.window
    for day in range(past.days):
        hour = first_hour + (day + 1) * HOURS_PER_DAY
        free = days_end[past.warm_up_days + day]
        if free != free_at(past, hour):
            raise SimulationError(f"day {day}: the day's end does not agree with the stays")
        for index, row in enumerate(rows):
            last = last_at[row.id]
            if last is None or past.at(hour) < last:
                _report(session, row, free[index], past.at(hour))
    for index, row in enumerate(rows):
        last = last_at[row.id]
        if last is not None:
            _report(session, row, free_at(past, past.hour_of(last))[index], last)
    for row, (units, beds) in zip(rows, free_at(past, end_hour), strict=True):
        row.reported_free_units, row.reported_free_beds = units, beds
        session.add(row)


def _report(session: Session, row: Facility, free: tuple[int, int], at: datetime) -> None:
    places = usable(*free)
    capacity_import(
        session=session,
        facility=row,
        free_units=places.units,
        free_beds=places.beds,
        reported_at=at,
    )


def _write_unmet(session: Session, context: ServiceContext, past: SimulatedPast) -> int:
    """An unmet case for every family turned away on a counted day, on that day.

    A case key is a keyed hash of counsellor, day, family composition and risk; two
    simulated families of the same make-up on the same day would be one case. A request
    of its own per family (the composition left empty, the family's number in its place)
    keeps them apart; no account made these searches (counsellor 0)."""
    first_hour, end_hour = past.window
    written = 0
    for hour, family in sorted(past.history.turned_away):
        if not first_hour <= hour < end_hour:
            continue
        request = {"family": {"adults": [], "children": []}, "risk": f"simulated/{SEED}/{family}"}
        if not unmet_case_record(
            session=session,
            key=context.case_key,
            counsellor_user_id=0,
            request=request,
            now=past.at(hour),
        ):
            raise SimulationError(f"family {family}: its unmet case was not recorded")
        written += 1
    return written
