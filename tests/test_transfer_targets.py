"""Which transfers the planner proposes, kind by kind, against the rule applied at apply time."""

from __future__ import annotations

import itertools

from broker.domain.rules import load_rules
from broker.domain.stay import transfer_refusal
from broker.settings import PROJECT_ROOT
from solver.instance import FacilityState
from solver.transfers import SAME_HOUSE_BONUS, TransferTargets
from tests.solver_support import plain_facility

RULES = load_rules(PROJECT_ROOT / "data")
NETWORK = RULES.network(stale_after_hours=24)
KINDS = sorted(NETWORK.kinds)


def _house(fid: int, kind: str, operator_id: int, region: str) -> FacilityState:
    return plain_facility(
        id=fid,
        name=f"h{fid}",
        kind=kind,
        region=region,
        free_units=1,
        free_beds=3,
        operator_id=operator_id,
    )


def test_every_proposed_target_is_one_the_transfer_rule_allows() -> None:
    proposed = 0
    for source_kind, target_kind, same_operator, flexible, same_region in itertools.product(
        KINDS, KINDS, (True, False), (True, False), (True, False)
    ):
        source = _house(1, source_kind, 1, "Baranya")
        target = _house(
            2, target_kind, 1 if same_operator else 2, "Baranya" if same_region else "Vas"
        )
        found = TransferTargets(
            [source, target], NETWORK, frozenset({1}) if flexible else frozenset()
        ).for_resident_of(1)
        source_rule, target_rule = RULES.kind(source_kind), RULES.kind(target_kind)
        later = target_rule.tier > source_rule.tier
        formal_change = (
            same_operator and flexible and target_rule.stay_clock != source_rule.stay_clock
        )
        assert (2 in found.allowed) == (later or formal_change), (source_kind, target_kind)
        assert found.bonus == ({2: SAME_HOUSE_BONUS} if formal_change and same_region else {}), (
            source_kind,
            target_kind,
        )
        if 2 in found.allowed:
            proposed += 1
            assert (
                transfer_refusal(
                    source=source_rule,
                    target=target_rule,
                    same_operator=same_operator,
                    operator_flexible=flexible,
                    allow_same_tier=False,  # even where same-tier moves are switched off
                )
                is None
            ), (source_kind, target_kind)
    assert proposed > 0


def test_a_halfway_house_resident_moves_only_inside_a_flexible_operator() -> None:
    halfway = _house(1, "halfway_house", 7, "Zala")
    crisis_same_house = _house(2, "crisis_centre", 7, "Zala")
    crisis_elsewhere = _house(3, "crisis_centre", 8, "Zala")
    strict = TransferTargets([halfway, crisis_same_house, crisis_elsewhere], NETWORK, frozenset())
    assert strict.for_resident_of(1).allowed == frozenset()
    flexible = TransferTargets(
        [halfway, crisis_same_house, crisis_elsewhere], NETWORK, frozenset({7})
    ).for_resident_of(1)
    assert flexible.allowed == {2} and flexible.bonus == {2: SAME_HOUSE_BONUS}
