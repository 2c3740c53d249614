"""The three planning instances of ``benchmarks.plan_solvers``, built in memory.

Everything follows from a seed and a fixed clock, so two runs build the same instances:
no database, no ``datetime.now()``. Facilities come from the broker's own synthetic network
(:func:`broker.network.synthetic_entries`) or from the demo network in ``data/``; families
are drawn here with the proportions described on each function.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from broker.domain.facility import MATCHING_FIELDS, matching_value
from broker.domain.rules import Rules
from broker.network import NetworkEntry, read_demo_network, synthetic_entries
from solver.instance import (
    FacilityState,
    Family,
    Needs,
    Network,
    Person,
    PlacementRequest,
)
from solver.plans import Demand, PlanInstance
from solver.transfers import SAME_HOUSE_REASON, TransferTargets

# A fixed clock: report ages, and so the freshness part of every score, are the same in
# every run.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVACUATED_SHELTER = "Napfény Ház Titkos Menedékház"
TRANSFER_HORIZON_DAYS = 14
STAY_LIMITS_SPREAD_DAYS = 180
FLEXIBLE_OPERATOR_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class NamedInstance:
    """An instance and how the table names it."""

    name: str
    instance: PlanInstance
    note: str = ""

    @property
    def label(self) -> str:
        instance = self.instance
        return f"{self.name} ({len(instance.demands):,} x {len(instance.facilities):,})"


# --- facilities --------------------------------------------------------------------------------


def facility_state(index: int, entry: NetworkEntry, operator_id: int) -> FacilityState:
    """The entry as matching sees it: id ``index``, its reported free places, reported
    ``reported_hours_ago`` before :data:`NOW`."""
    return FacilityState(
        id=index,
        operator_id=operator_id,
        free_units=entry.free_units,
        free_beds=entry.free_beds,
        reported_at=NOW - timedelta(hours=entry.reported_hours_ago),
        **{name: matching_value(name, getattr(entry.spec, name)) for name in MATCHING_FIELDS},
    )


def facility_states(entries: list[NetworkEntry]) -> list[FacilityState]:
    """Ids 1..n in entry order; operators numbered in name order."""
    operators = {name: i for i, name in enumerate(sorted({e.spec.operator for e in entries}), 1)}
    return [
        facility_state(index, entry, operators[entry.spec.operator])
        for index, entry in enumerate(entries, start=1)
    ]


# --- families ----------------------------------------------------------------------------------


def _person(rng: random.Random, *, adult: bool, male: bool) -> Person:
    return Person(age=rng.randint(18, 62) if adult else rng.randint(0, 17), male=male)


def random_family(rng: random.Random) -> Family:
    """1-2 adults, women mostly (about 8% of families have an adult man), 0-4 children aged
    0-17 of either sex."""
    adults = [_person(rng, adult=True, male=False)]
    if rng.random() < 0.2:
        adults.append(_person(rng, adult=True, male=False))
    if rng.random() < 0.08:
        adults[-1] = _person(rng, adult=True, male=True)
    count = rng.choices([0, 1, 2, 3, 4], weights=[25, 30, 25, 12, 8])[0]
    children = [_person(rng, adult=False, male=rng.random() < 0.5) for _ in range(count)]
    return Family(adults=tuple(adults), children=tuple(children))


def random_request(rng: random.Random, regions: list[str]) -> PlacementRequest:
    """A hotline request: risk 70% standard, 22% medium, 8% high; a few families need a
    wheelchair unit, bring pets or arrive at night; 0-2 avoided and 0-2 preferred regions,
    never the same region in both."""
    avoid = rng.sample(regions, rng.choices([0, 1, 2], weights=[40, 40, 20])[0])
    others = [region for region in regions if region not in avoid]
    preferred = rng.sample(others, rng.choices([0, 1, 2], weights=[40, 40, 20])[0])
    return PlacementRequest(
        family=random_family(rng),
        needs=Needs(
            wheelchair=rng.random() < 0.03,
            pets=rng.random() < 0.05,
            night_arrival=rng.random() < 0.15,
        ),
        risk=rng.choices(["standard", "medium", "high"], weights=[70, 22, 8])[0],
        avoid_regions=frozenset(avoid),
        preferred_regions=frozenset(preferred),
    )


def fitted_request(
    rng: random.Random, request: PlacementRequest, facility: FacilityState, network: Network
) -> PlacementRequest:
    """``request`` changed so that the family could really be staying at ``facility``: no
    adult man where none is admitted, a child where children are required, no son above the
    age limit, a risk level the kind receives, trafficking victims in trafficking homes, and
    the facility's own region not avoided."""
    policy = network.kinds[facility.kind]
    adults = request.family.adults
    if not (facility.admits_adult_men and policy.adult_men_possible):
        adults = tuple(Person(age=a.age, male=False) for a in adults)
    children = list(request.family.children)
    if policy.requires_children and not children:
        children.append(_person(rng, adult=False, male=False))
    if facility.boys_max_age is not None:
        children = [
            Person(age=min(c.age, facility.boys_max_age), male=True) if c.male else c
            for c in children
        ]
    risk = request.risk
    if risk not in policy.risk_levels:
        risk = rng.choice(sorted(policy.risk_levels))
    return PlacementRequest(
        family=Family(adults=adults, children=tuple(children)),
        needs=request.needs,
        risk=risk,
        avoid_regions=request.avoid_regions - {facility.region},
        preferred_regions=request.preferred_regions,
        trafficking_victim=policy.trafficking_only,
    )


# --- 1. batch placement ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyntheticNetwork:
    """The broker's synthetic network as facility states, with what the states leave out:
    each facility's occupied units."""

    facilities: list[FacilityState]
    occupied_units: list[int]


def synthetic_network(rules: Rules, count: int, seed: int) -> SyntheticNetwork:
    entries = synthetic_entries(rules=rules, count=count, seed=seed)
    return SyntheticNetwork(
        facilities=facility_states(entries),
        occupied_units=[max(0, e.spec.total_units - e.free_units) for e in entries],
    )


def batch_instance(
    network: Network, facilities: list[FacilityState], requests: int, seed: int
) -> NamedInstance:
    """``requests`` hotline families at once onto the synthetic network's free places."""
    rng = random.Random(f"plan-solvers:{seed}:batch:{requests}")
    regions = sorted(network.geography.points)
    demands = tuple(
        Demand(key=str(i), request=random_request(rng, regions)) for i in range(requests)
    )
    return NamedInstance(
        "batch",
        PlanInstance(demands=demands, facilities=tuple(facilities), network=network, now=NOW),
    )


# --- 2. transfer planning ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stay:
    key: str
    request: PlacementRequest
    facility: FacilityState
    limit_at: datetime


def synthetic_stays(
    rng: random.Random, network: Network, synthetic: SyntheticNetwork, count: int
) -> list[Stay]:
    """``count`` active stays, each in a facility drawn in proportion to its occupied units
    (at least one), with a family that fits there and a stay limit spread evenly over the
    next :data:`STAY_LIMITS_SPREAD_DAYS` days."""
    regions = sorted(network.geography.points)
    weights = [max(1, occupied) for occupied in synthetic.occupied_units]
    homes = rng.choices(synthetic.facilities, weights=weights, k=count)
    return [
        Stay(
            key=f"stay-{i}",
            request=fitted_request(rng, random_request(rng, regions), home, network),
            facility=home,
            limit_at=NOW + timedelta(days=rng.uniform(0, STAY_LIMITS_SPREAD_DAYS)),
        )
        for i, home in enumerate(homes)
    ]


def transfer_instance(
    network: Network, synthetic: SyntheticNetwork, residents: int, seed: int
) -> NamedInstance:
    """``residents`` active stays; those whose limit falls within the next
    :data:`TRANSFER_HORIZON_DAYS` days need a next place. About
    :data:`FLEXIBLE_OPERATOR_SHARE` of the operators allow flexible transfers."""
    rng = random.Random(f"plan-solvers:{seed}:transfers:{residents}")
    facilities = synthetic.facilities
    operator_ids = sorted({f.operator_id for f in facilities})
    flexible = frozenset(i for i in operator_ids if rng.random() < FLEXIBLE_OPERATOR_SHARE)
    targets = TransferTargets(facilities, network, flexible)
    horizon = NOW + timedelta(days=TRANSFER_HORIZON_DAYS)
    demands = []
    stuck = 0
    for stay in synthetic_stays(rng, network, synthetic, residents):
        if stay.limit_at > horizon:
            continue
        where = targets.for_resident_of(stay.facility.id)
        stuck += not where.allowed
        demands.append(
            Demand(
                key=stay.key,
                request=stay.request,
                allowed_facility_ids=where.allowed,
                bonus=where.bonus,
                bonus_reason=SAME_HOUSE_REASON if where.bonus else "",
            )
        )
    return NamedInstance(
        "transfers",
        PlanInstance(
            demands=tuple(demands), facilities=tuple(facilities), network=network, now=NOW
        ),
        note=(
            f"{len(demands):,} of {residents:,} residents reach their stay limit within "
            f"{TRANSFER_HORIZON_DAYS} days ({stuck} of them with no next step); "
            f"{len(flexible)} of {len(operator_ids)} operators flexible"
        ),
    )


# --- 3. evacuation -----------------------------------------------------------------------------


def evacuee_families(rng: random.Random, units: int, beds: int) -> list[Family]:
    """One family per unit, at most ``beds`` people in all, no adult man, sons at most 14
    (the shelter's rules)."""
    families: list[Family] = []
    for left_units in range(units, 0, -1):
        room = beds - sum(f.persons for f in families) - (left_units - 1)
        family = random_family(rng)
        adults = tuple(Person(age=a.age, male=False) for a in family.adults)[:room]
        children = tuple(
            Person(age=min(c.age, 14), male=True) if c.male else c for c in family.children
        )[: max(0, room - len(adults))]
        families.append(Family(adults=adults, children=children))
    return families


def evacuation_instance(network: Network, data_dir: Path, seed: int) -> NamedInstance:
    """The demo network's shelter :data:`EVACUATED_SHELTER` is compromised: its residents
    (one family per unit, about a third high-risk) go to the other demo facilities, outside
    its region and every region within the exclusion distance of it."""
    demo = read_demo_network(data_dir / "demo_network.toml")
    states = facility_states(demo.entries)
    shelter_entry = next(e for e in demo.entries if e.spec.name == EVACUATED_SHELTER)
    shelter = next(s for s in states if s.name == EVACUATED_SHELTER)
    rng = random.Random(f"plan-solvers:{seed}:evacuation")
    families = evacuee_families(rng, shelter_entry.spec.total_units, shelter_entry.spec.total_beds)
    high = set(rng.sample(range(len(families)), round(len(families) / 3)))
    regions = sorted(network.geography.points)
    demands = []
    for i, family in enumerate(families):
        drawn = random_request(rng, regions)
        risk = "high" if i in high else rng.choice(["standard", "medium"])
        request = PlacementRequest(
            family=family,
            needs=drawn.needs,
            risk=risk,
            avoid_regions=drawn.avoid_regions,
            preferred_regions=drawn.preferred_regions,
        )
        demands.append(Demand(key=f"evacuee-{i}", request=request))
    geography = network.geography
    forbidden = frozenset(
        region
        for region in geography.points
        if geography.distance_km(region, shelter.region) <= network.weights.exclusion_km
    ) | {shelter.region}
    return NamedInstance(
        "evacuation",
        PlanInstance(
            demands=tuple(demands),
            facilities=tuple(s for s in states if s.id != shelter.id),
            network=network,
            now=NOW,
            forbidden_regions=forbidden,
            excluded_facility_ids=frozenset({shelter.id}),
        ),
        note=f"forbidden regions: {', '.join(sorted(forbidden))}",
    )
