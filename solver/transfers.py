"""Where a resident whose stay limit nears may usefully move (pure).

A move is worth proposing when it goes to a later tier, or, inside an operator that allows
flexible transfers, to one of its houses whose kind runs another stay clock: a formal change
that starts a new clock. A move to another house of the same tier and clock would only carry
the old clock along, so it is not proposed. A formal change in the same region (the same
house) scores a bonus. Every target named here is also one that the broker's transfer rule
allows when the plan is applied, which a test checks kind by kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from solver.instance import FacilityState, Network

SAME_HOUSE_BONUS = 50.0
SAME_HOUSE_REASON = "a formal change inside the same house"


@dataclass(frozen=True, slots=True)
class _House:
    id: int
    tier: int
    stay_clock: str
    operator_id: int
    region: str


@dataclass(frozen=True, slots=True)
class Targets:
    allowed: frozenset[int]
    bonus: dict[int, float]  # facility id -> extra score


class TransferTargets:
    """The network's facilities, read once, asked for each resident in turn."""

    def __init__(
        self,
        facilities: Iterable[FacilityState],
        network: Network,
        flexible_operator_ids: frozenset[int],
    ) -> None:
        self._houses = [
            _House(
                f.id,
                network.kinds[f.kind].tier,
                network.kinds[f.kind].stay_clock,
                f.operator_id,
                f.region,
            )
            for f in facilities
        ]
        self._by_id = {house.id: house for house in self._houses}
        self._flexible = flexible_operator_ids

    def for_resident_of(self, facility_id: int) -> Targets:
        source = self._by_id[facility_id]
        flexible = source.operator_id in self._flexible
        allowed: set[int] = set()
        bonus: dict[int, float] = {}
        for target in self._houses:
            if target.id == source.id:
                continue
            own_house_change = (
                flexible
                and target.operator_id == source.operator_id
                and target.stay_clock != source.stay_clock
            )
            if target.tier > source.tier or own_house_change:
                allowed.add(target.id)
                if own_house_change and target.region == source.region:
                    bonus[target.id] = SAME_HOUSE_BONUS
        return Targets(frozenset(allowed), bonus)
