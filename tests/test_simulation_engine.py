"""The simulator's engine: every metric on hand-made networks against values worked out by
hand, the loss-system check against the Erlang B formula, conservation, capacity and
determinism on the demo network."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import pytest

from broker.simulation.config import StayFigures
from broker.simulation.engine import RunSpec
from broker.simulation.networks import load_sim_network
from broker.simulation.policies import SIX_COMBINATIONS, Policy
from broker.simulation.runs import play_calls, run_seed
from tests.simulation_support import (
    DATA,
    START,
    caller,
    erlang_b,
    facility,
    hand_network,
    quiet_config,
    rules,
)

SHORT_STAYS = {
    "crisis_centre": StayFigures(min_days=2, early_exit_share=1.0, needs_next_share=0.0),
    "secret_shelter": StayFigures(min_days=3, early_exit_share=1.0, needs_next_share=0.0),
}


@pytest.mark.parametrize("matching", ["first_fit", "ranked"])
def test_every_call_metric_on_a_hand_made_network(matching: str) -> None:
    """A crisis centre in Budapest (one wheelchair unit) and a secret shelter in Zala (one
    unit); six calls whose fate is worked out by hand in the comments."""
    sim = hand_network(
        facility("crisis_centre", "Budapest", wheelchair_units=1),
        facility("secret_shelter", "Zala"),
    )
    calls = [
        caller(0, 1, children=1, preferred="Budapest"),  # crisis centre, leaves at hour 49
        # needs the wheelchair unit (busy): waits, placed at hour 49 outside Zala
        caller(1, 2, children=2, preferred="Zala", wheelchair=True, may_wait=True),
        caller(2, 3, children=0, risk="high", avoid="Budapest"),  # shelter until hour 75
        caller(3, 4, children=0, risk="high", avoid="Budapest"),  # shelter full: turned away
        caller(4, 5, children=2, preferred="Zala"),  # everything full: turned away
        caller(5, 60, children=1, preferred="Zala", may_wait=True),  # waits until hour 75
    ]
    spec = RunSpec(seed=1, policy=Policy(matching=matching), days=5, start=START)
    metrics = play_calls(spec, quiet_config(**SHORT_STAYS), sim, calls).metrics

    assert metrics["families_arrived"] == 6
    assert metrics["people_arrived"] == 2 + 3 + 1 + 1 + 3 + 2
    assert metrics["families_turned_away"] == 2
    assert metrics["people_turned_away"] == 1 + 3
    assert metrics["share_turned_away"] == pytest.approx(2 / 6)
    assert metrics["families_placed"] == 4
    assert metrics["families_waited"] == 2
    assert metrics["mean_days_waited"] == pytest.approx((47 + 15) / 24 / 4)
    assert metrics["mean_waiting_list_days"] == pytest.approx((47 + 15) / 24 / 2)
    # three placed families had a preferred region; one of them is in Budapest, not Zala
    assert metrics["share_outside_preferred"] == pytest.approx(1 / 3)
    km = sim.network.geography.distance_km("Budapest", "Zala")
    assert 150 < km < 250
    assert metrics["mean_km_from_preferred"] == pytest.approx(km)
    assert metrics["high_risk_secret_full"] == 1
    # day ends at hours 24..120: the crisis unit is busy on four of five, the shelter on all
    assert metrics["occupancy.crisis_centre"] == pytest.approx(4 / 5)
    assert metrics["occupancy.secret_shelter"] == pytest.approx(1.0)
    assert metrics["occupancy"] == pytest.approx(9 / 10)
    for quiet in (
        "transfers_within_house",
        "transfers_next_tier",
        "limit_reached_no_next_place",
        "reentry_calls",
        "reentry_taken_back",
    ):
        assert metrics[quiet] == 0, quiet


def _transfer_run(transfers: str) -> dict[str, float]:
    """One house in Budapest (a temporary home for mothers, then a crisis centre). Family 1
    fills the home until hour 1200.5; family 0 reaches the crisis centre's 56-day limit at
    hour 1345 and needs a next place; family 2 calls at hour 1250."""
    sim = hand_network(
        facility("temporary_home_mothers", "Budapest", operator="House"),
        facility("crisis_centre", "Budapest", operator="House"),
    )
    stays = {
        "crisis_centre": StayFigures(min_days=2, early_exit_share=0.5, needs_next_share=1.0),
        "temporary_home_mothers": StayFigures(
            min_days=50, early_exit_share=0.5, needs_next_share=0.0
        ),
    }
    calls = [
        caller(1, 0.5),  # early exit after 50 days
        caller(0, 1, stays=[(0.99, 0.0, 0.0)]),  # to the limit, then needs a next place
        caller(2, 1250),
    ]
    policy = Policy(transfers=transfers, matching="first_fit")
    spec = RunSpec(seed=1, policy=policy, days=60, start=START)
    return play_calls(spec, quiet_config(**stays), sim, calls).metrics


def test_strict_transfers_leave_the_family_without_a_next_place() -> None:
    # The home frees at hour 1200.5, family 2 takes it at 1250, nothing of a later tier is
    # free at 1345.
    metrics = _transfer_run("strict")
    assert metrics["limit_reached_no_next_place"] == 1
    assert metrics["transfers_within_house"] == 0
    assert metrics["transfers_next_tier"] == 0
    assert metrics["families_placed"] == 3


def test_flexible_transfers_move_the_family_inside_the_house_before_the_limit() -> None:
    # From 14 days before the limit (hour 1009) the house is asked once a day; at hour
    # 1201 the home is free and family 0 moves; family 2 then gets the crisis centre.
    metrics = _transfer_run("flexible")
    assert metrics["transfers_within_house"] == 1
    assert metrics["limit_reached_no_next_place"] == 0
    assert metrics["transfers_next_tier"] == 0
    assert metrics["families_placed"] == 3


def test_a_next_tier_transfer_when_a_later_tier_is_free() -> None:
    sim = hand_network(
        facility("crisis_centre", "Budapest"),
        facility("temporary_home_mothers", "Pest", operator="Other"),
    )
    stays = {
        "crisis_centre": StayFigures(min_days=2, early_exit_share=0.0, needs_next_share=1.0),
    }
    calls = [caller(0, 1)]
    spec = RunSpec(seed=1, policy=Policy(matching="first_fit"), days=60, start=START)
    metrics = play_calls(spec, quiet_config(**stays), sim, calls).metrics
    assert metrics["transfers_next_tier"] == 1
    assert metrics["limit_reached_no_next_place"] == 0


@pytest.mark.parametrize(("reentry", "taken_back"), [("excluded", 0), ("assessed", 1)])
def test_a_woman_who_went_back_calls_again(reentry: str, taken_back: int) -> None:
    """She leaves after 2 days (hour 49), went back to the perpetrator and calls again two
    days later (hour 97); an assessment that takes everyone back, or none."""
    sim = hand_network(facility("crisis_centre", "Budapest", accepts_reentry=True))
    config = quiet_config(**SHORT_STAYS)
    config = replace(
        config,
        reentry=replace(
            config.reentry,
            returned_to_perpetrator_share=1.0,
            calls_again_share=1.0,
            calls_again_days=(2, 2),
            assessment_pass_share=1.0,
        ),
    )
    calls = [caller(0, 1, returns=(0.0, 0.0, 0.0, 0.99))]
    spec = RunSpec(seed=1, policy=Policy(reentry=reentry), days=5, start=START)
    metrics = play_calls(spec, config, sim, calls).metrics
    assert metrics["reentry_calls"] == 1
    assert metrics["families_arrived"] == 2
    assert metrics["reentry_taken_back"] == taken_back
    assert metrics["families_turned_away"] == 1 - taken_back


def _t_quantile_975(df: int) -> float:
    table = {4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 11: 2.201}
    return table[df]


@pytest.mark.parametrize(("servers", "load"), [(3, 2.0), (8, 6.0), (20, 18.0)])
def test_a_loss_system_turns_away_the_erlang_b_share(servers: int, load: float) -> None:
    """One kind, ``servers`` identical units, one-person families arriving as a Poisson
    stream, stays drawn evenly between 1 and 56 days, no waiting, no transfers: the share
    turned away is Erlang B of the offered load, whatever the stay distribution."""
    beds = 4 * servers
    sim = hand_network(facility("crisis_centre", "Budapest", units=servers, beds=beds))
    config = quiet_config(
        crisis_centre=StayFigures(min_days=1, early_exit_share=1.0, needs_next_share=0.0)
    )
    mean_stay_days = (1 + 56) / 2
    per_day = load / mean_stay_days
    config = replace(
        config,
        arrivals=replace(config.arrivals, cases_per_year=per_day * 365, reference_beds=beds),
        family=replace(config.family, second_adult_share=0.0, adult_man_share=0.0),
        risk=replace(config.risk, standard=1.0, medium=0.0, high=0.0),
        needs=replace(
            config.needs, wheelchair=0.0, pets=0.0, trafficking_victim=0.0, other_language=0.0
        ),
        start=replace(config.start, warm_up_days=120),
    )
    config = replace(config, family=replace(config.family, people_per_case=1.0))
    seeds = 10
    shares = []
    for seed in range(1, seeds + 1):
        (result,) = run_seed(
            seed=seed,
            policies=[Policy(matching="first_fit")],
            days=730,
            start=START,
            config=config,
            sim=sim,
        )
        assert result.metrics["people_arrived"] == result.metrics["families_arrived"]
        shares.append(result.metrics["share_turned_away"])
    mean = statistics.mean(shares)
    half_width = _t_quantile_975(seeds - 1) * statistics.stdev(shares) / math.sqrt(seeds)
    expected = erlang_b(servers, load)
    assert abs(mean - expected) <= half_width, (mean, half_width, expected)
    # and the interval is narrow enough to tell one unit more or less apart
    assert half_width < abs(erlang_b(servers + 1, load) - expected)


@pytest.fixture(scope="module")
def demo_sim():  # type: ignore[no-untyped-def]
    return load_sim_network("demo", rules=rules(), data_dir=DATA, start=START)


def test_the_same_seed_gives_the_same_numbers(demo_sim) -> None:  # type: ignore[no-untyped-def]
    config = quiet_config()
    from broker.simulation.config import load_simulation_config

    config = replace(load_simulation_config(DATA), start=replace(config.start, warm_up_days=20))
    first = run_seed(
        seed=7, policies=list(SIX_COMBINATIONS), days=60, start=START, config=config, sim=demo_sim
    )
    again = run_seed(
        seed=7, policies=list(SIX_COMBINATIONS), days=60, start=START, config=config, sim=demo_sim
    )
    assert [r.metrics for r in first] == [r.metrics for r in again]
    assert [r.daily_occupancy for r in first] == [r.daily_occupancy for r in again]
    other = run_seed(
        seed=8, policies=[SIX_COMBINATIONS[0]], days=60, start=START, config=config, sim=demo_sim
    )
    assert other[0].metrics != first[0].metrics
    # common random numbers: every policy saw the same first calls
    first_calls = {r.metrics["families_arrived"] - r.metrics["reentry_calls"] for r in first}
    assert len(first_calls) == 1
    # and conservation held at every day's end
    for result in first:
        assert len(result.daily_balance) == 60
        for arrived, placed, waiting, turned_away in result.daily_balance:
            assert arrived == placed + waiting + turned_away
        assert result.daily_balance[-1][0] == result.metrics["families_arrived"]


@pytest.mark.parametrize("policy", ["flexible/optimised/assessed", "strict/first_fit/excluded"])
def test_no_stay_ever_exceeds_a_facility(demo_sim, policy: str) -> None:  # type: ignore[no-untyped-def]
    """Recounted from the run's history, independently of the engine's own bookkeeping:
    at every moment each facility holds at most its units and beds."""
    from broker.simulation.config import load_simulation_config

    config = load_simulation_config(DATA)
    config = replace(config, start=replace(config.start, warm_up_days=30))
    (result,) = run_seed(
        seed=3,
        policies=[Policy.parse(policy)],
        days=120,
        start=START,
        config=config,
        sim=demo_sim,
        keep_history=True,
    )
    assert result.history is not None
    changes: dict[int, list[tuple[float, int, int]]] = {}
    for stay in result.history.stays:
        changes.setdefault(stay.facility, []).append((stay.started, 1, stay.persons))
        if stay.ended is not None:
            changes.setdefault(stay.facility, []).append((stay.ended, -1, -stay.persons))
    assert len(changes) > 20
    for index, moves in changes.items():
        units = beds = 0
        for _, unit, persons in sorted(moves):  # at equal times, leaving comes first
            units, beds = units + unit, beds + persons
            assert 0 <= units <= demo_sim.total_units[index]
            assert 0 <= beds <= demo_sim.total_beds[index]
