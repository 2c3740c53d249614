"""The network a simulation runs on: the demo network or a synthetic one, as plain data.

Facilities become the solver's ``FacilityState`` with every place free and ids 1..n in the
file's order, which is also the phoning round's fixed order. Capacity in a simulation is
always known as it is, so every report counts as fresh: the network's staleness limit is
set beyond any run and every report is dated at the run's start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from broker.domain.rules import Rules
from broker.errors import InvalidInput
from broker.i18n import gettext
from broker.network import NetworkEntry, read_demo_network, synthetic_entries
from solver.instance import FacilityState, Network

# Longer than any run (years of hours), so no report turns stale during one.
NEVER_STALE_HOURS = 1e9
MAX_SYNTHETIC_FACILITIES = 20_000


@dataclass(frozen=True, slots=True)
class SimNetwork:
    """Facilities with all places free, and what the simulator needs to know about them."""

    name: str
    network: Network
    facilities: tuple[FacilityState, ...]  # index i has id i + 1
    total_units: tuple[int, ...]
    total_beds: tuple[int, ...]
    operators: tuple[str, ...]  # one name per facility
    flexible_operators: frozenset[str]  # those whose flexible switch is on in the file

    @property
    def beds(self) -> int:
        return sum(self.total_beds)

    def units_by_kind(self) -> dict[str, int]:
        units: dict[str, int] = {}
        for facility, total in zip(self.facilities, self.total_units, strict=True):
            units[facility.kind] = units.get(facility.kind, 0) + total
        return units


def network_from_entries(
    *,
    name: str,
    entries: list[NetworkEntry],
    rules: Rules,
    flexible_operators: frozenset[str],
    start: datetime,
) -> SimNetwork:
    operator_ids: dict[str, int] = {}
    facilities = []
    for index, entry in enumerate(entries):
        spec = entry.spec
        operator_id = operator_ids.setdefault(spec.operator, len(operator_ids) + 1)
        facilities.append(
            FacilityState(
                id=index + 1,
                name=spec.name,
                kind=spec.kind,
                region=spec.region,
                operator_id=operator_id,
                free_units=spec.total_units,
                free_beds=spec.total_beds,
                reported_at=start,
                boys_max_age=spec.boys_max_age,
                admits_adult_men=spec.admits_adult_men,
                wheelchair_units=spec.wheelchair_units,
                accepts_pets=spec.accepts_pets,
                languages=frozenset(spec.languages),
                night_admission=spec.night_admission,
                accepts_reentry=spec.accepts_reentry,
                largest_unit_beds=spec.largest_unit_beds,
            )
        )
    network = replace(
        rules.network(stale_after_hours=NEVER_STALE_HOURS), stale_after_hours=NEVER_STALE_HOURS
    )
    return SimNetwork(
        name=name,
        network=network,
        facilities=tuple(facilities),
        total_units=tuple(entry.spec.total_units for entry in entries),
        total_beds=tuple(entry.spec.total_beds for entry in entries),
        operators=tuple(entry.spec.operator for entry in entries),
        flexible_operators=flexible_operators,
    )


def load_sim_network(
    choice: str, *, rules: Rules, data_dir: Path, start: datetime, seed: int = 1
) -> SimNetwork:
    """``demo`` (data/demo_network.toml) or ``synthetic:N`` (N facilities, generated)."""
    if choice == "demo":
        demo = read_demo_network(data_dir / "demo_network.toml")
        flexible = frozenset(name for name, on in demo.operators.items() if on)
        return network_from_entries(
            name="demo",
            entries=demo.entries,
            rules=rules,
            flexible_operators=flexible,
            start=start,
        )
    head, _, count_text = choice.partition(":")
    if head == "synthetic" and count_text.isdigit():
        count = int(count_text)
        if not 1 <= count <= MAX_SYNTHETIC_FACILITIES:
            raise InvalidInput(
                gettext("a synthetic network has 1 to {maximum} facilities").format(
                    maximum=MAX_SYNTHETIC_FACILITIES
                )
            )
        entries = synthetic_entries(rules=rules, count=count, seed=seed)
        return network_from_entries(
            name=choice, entries=entries, rules=rules, flexible_operators=frozenset(), start=start
        )
    raise InvalidInput(
        gettext("unknown network '{name}'; use demo or synthetic:N").format(name=choice[:40])
    )
