"""Small hand-made networks, figures and callers for the simulator's tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.domain.rules import load_rules
from broker.simulation.config import SimulationConfig, StayFigures, load_simulation_config
from broker.simulation.networks import NEVER_STALE_HOURS, SimNetwork
from broker.simulation.population import RETURN_DRAWS, ROW, Caller
from solver.instance import Family, Needs, Person, PlacementRequest
from tests.solver_support import plain_facility

DATA = Path(__file__).resolve().parent.parent / "data"
START = datetime(2025, 1, 6, tzinfo=UTC)


def rules() -> Any:
    return load_rules(DATA)


def quiet_config(**stays: StayFigures) -> SimulationConfig:
    """The real figures with everything random switched off that a test does not set:
    no warm-up, an empty start, no returns, nobody waiting, flat arrival patterns."""
    config = load_simulation_config(DATA)
    return replace(
        config,
        arrivals=replace(config.arrivals, hour_weights=(1.0,) * 24, weekday_weights=(1.0,) * 7),
        waiting=replace(config.waiting, may_wait_share=0.0, can_wait_hours_share=0.0),
        reentry=replace(config.reentry, returned_to_perpetrator_share=0.0),
        start=replace(config.start, occupancy=0.0, warm_up_days=0),
        stays={**config.stays, **stays},
    )


def hand_network(*facilities: dict[str, Any]) -> SimNetwork:
    """Facilities in the order given (ids 1..n): each a dict of FacilityState fields plus
    ``operator`` (a name); free places start at the totals."""
    network = replace(
        rules().network(stale_after_hours=NEVER_STALE_HOURS), stale_after_hours=NEVER_STALE_HOURS
    )
    operators: dict[str, int] = {}
    states = []
    for index, given in enumerate(facilities):
        fields = dict(given)
        operator = fields.pop("operator", "Operator")
        states.append(
            plain_facility(
                id=index + 1,
                name=f"Facility {index + 1}",
                operator_id=operators.setdefault(operator, len(operators) + 1),
                reported_at=START,
                **fields,
            )
        )
    return SimNetwork(
        name="hand",
        network=network,
        facilities=tuple(states),
        total_units=tuple(s.free_units for s in states),
        total_beds=tuple(s.free_beds for s in states),
        operators=tuple(str(s.operator_id) for s in states),
        flexible_operators=frozenset(),
    )


def caller(
    index: int,
    hour: float,
    *,
    children: int = 1,
    risk: str = "standard",
    preferred: str | None = None,
    avoid: str | None = None,
    may_wait: bool = False,
    wheelchair: bool = False,
    stays: list[tuple[float, float, float]] | None = None,
    returns: tuple[float, float, float, float] = (0.99, 0.99, 0.0, 0.99),
) -> Caller:
    """A family of a mother and ``children`` children; ``stays`` gives each stay's draws
    (early exit?, when, needs a next place?), the rest leave early at once."""
    draws = [0.0] * (ROW - RETURN_DRAWS)
    for number, triple in enumerate(stays or []):
        draws[3 * number : 3 * number + 3] = triple
    request = PlacementRequest(
        family=Family(
            adults=(Person(35, False),),
            children=tuple(Person(5 + k, False) for k in range(children)),
        ),
        needs=Needs(wheelchair=wheelchair),
        risk=risk,
        preferred_regions=frozenset({preferred}) if preferred else frozenset(),
        avoid_regions=frozenset({avoid}) if avoid else frozenset(),
    )
    return Caller(
        index=index,
        hour=hour,
        request=request,
        home_region=preferred or "Budapest",
        may_wait=may_wait,
        can_wait_hours=False,
        draws=(*draws, *returns),
    )


def facility(kind: str, region: str, *, units: int = 1, beds: int = 4, **fields: Any) -> dict:
    return {
        "kind": kind,
        "region": region,
        "free_units": units,
        "free_beds": beds,
        "wheelchair_units": fields.pop("wheelchair_units", 0),
        **fields,
    }


def erlang_b(servers: int, load: float) -> float:
    """The share of calls a loss system with ``servers`` servers turns away at ``load``."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking
