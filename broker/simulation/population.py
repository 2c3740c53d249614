"""Who calls, and when: the arrivals of one seed, with every draw about each family.

Everything random about a family is drawn here, once per seed, before any policy runs:
when she calls, who is in the family, the risk, needs and regions, whether she can wait,
and a row of uniform numbers that decides her stays (early exit, when, whether she needs a
next place) and her return. Every policy then plays the same families with the same rows
(common random numbers), so the difference between two policies is theirs, not chance's.
A woman who calls again later is drawn from her own family's generator, so she is the same
under every policy that lets her leave early.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from broker.simulation.config import SimulationConfig
from solver.instance import Family, Needs, Person, PlacementRequest

# Uniforms per stay: early exit?, when, needs a next place?; at most this many stays.
DRAWS_PER_STAY = 3
MAX_STAYS = 6
# After the stays: went back to the perpetrator?, calls again?, after how long?, assessment.
RETURN_DRAWS = 4
ROW = DRAWS_PER_STAY * MAX_STAYS + RETURN_DRAWS
STREAM_ARRIVALS, STREAM_RESIDENTS, STREAM_RETURNS = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Caller:
    """One case: a family calling at ``hour`` (hours since the run's start)."""

    index: int
    hour: float
    request: PlacementRequest
    home_region: str
    may_wait: bool  # can wait days on the waiting list
    can_wait_hours: bool  # can wait for the planner's next round
    draws: tuple[float, ...]  # ROW uniforms: the stays, then the return

    def stay_draws(self, number: int) -> tuple[float, float, float]:
        """The uniforms of the family's ``number``-th stay (0 first); the last stay's are
        reused beyond MAX_STAYS."""
        start = DRAWS_PER_STAY * min(number, MAX_STAYS - 1)
        early, when, needs_next = self.draws[start : start + DRAWS_PER_STAY]
        return early, when, needs_next

    @property
    def return_draws(self) -> tuple[float, float, float, float]:
        went_back, calls_again, delay, assessment = self.draws[-RETURN_DRAWS:]
        return went_back, calls_again, delay, assessment


class Population:
    """Draws families for one seed and network; deterministic for the same inputs."""

    def __init__(self, config: SimulationConfig, *, seed: int, regions: list[str]) -> None:
        self._config = config
        self._seed = seed
        known = [r for r in sorted(regions) if r in config.regions.population] or sorted(regions)
        weights = np.array([config.regions.population.get(r, 1.0) for r in known], dtype=float)
        self._regions = known
        self._region_p = weights / weights.sum()
        oldest = config.family.child_age_max
        ages = np.linspace(1.0, config.family.oldest_child_weight, oldest + 1)
        self._age_p = ages / ages.sum()

    def _callers(
        self, rng: np.random.Generator, hours: np.ndarray, first_index: int
    ) -> list[Caller]:
        """One caller per hour given, every draw made for all of them at once."""
        config, mix, needs = self._config, self._config.family, self._config.needs
        count = len(hours)
        extra = mix.second_adult_share + mix.adult_man_share
        mean_children = max(0.0, mix.people_per_case - 1.0 - extra)
        children = rng.poisson(mean_children, count)
        second = rng.random(count) < mix.second_adult_share
        man = rng.random(count) < mix.adult_man_share
        too_large = 1 + second + man + children > mix.largest_family
        while too_large.any():  # drawn again, as a family that size is not in the mix
            children[too_large] = rng.poisson(mean_children, int(too_large.sum()))
            too_large = 1 + second + man + children > mix.largest_family
        ages = rng.choice(len(self._age_p), size=int(children.sum()), p=self._age_p)
        boys = rng.random(len(ages)) < mix.boy_share
        ends = np.cumsum(children)
        starts = ends - children
        oldest = np.array(
            [ages[a:b].max() if b > a else 0 for a, b in zip(starts, ends, strict=True)], dtype=int
        )
        low = np.maximum(mix.mother_age_min, np.minimum(mix.mother_age_max, oldest + 16))
        mother_age = rng.integers(low, mix.mother_age_max + 1)
        grandmother_age = rng.integers(40, 76, count)
        man_age = rng.integers(low, mix.mother_age_max + 6)
        risk_draw = rng.random(count)
        other_language = rng.random(count) < needs.other_language
        languages = list(needs.languages) or ["hu"]
        language = rng.integers(0, len(languages), count)
        wheelchair = rng.random(count) < needs.wheelchair
        pets = rng.random(count) < needs.pets
        home = rng.choice(len(self._regions), size=count, p=self._region_p)
        prefers_home = rng.random(count) < config.regions.home_preferred_share
        may_wait = rng.random(count) < config.waiting.may_wait_share
        can_wait_hours = rng.random(count) < config.waiting.can_wait_hours_share
        trafficking = rng.random(count) < needs.trafficking_victim
        draws = rng.random((count, ROW))
        standard, medium = config.risk.standard, config.risk.standard + config.risk.medium
        night_hours = set(needs.night_hours)
        callers = []
        for row in range(count):
            risk = (
                "standard"
                if risk_draw[row] < standard
                else "medium"
                if risk_draw[row] < medium
                else "high"
            )
            people = [Person(int(mother_age[row]), False)]
            if second[row]:
                people.append(Person(int(grandmother_age[row]), False))
            if man[row]:
                people.append(Person(int(man_age[row]), True))
            family = Family(
                adults=tuple(people),
                children=tuple(
                    Person(int(ages[k]), bool(boys[k])) for k in range(starts[row], ends[row])
                ),
            )
            region = self._regions[int(home[row])]
            hour = float(hours[row])
            request = PlacementRequest(
                family=family,
                needs=Needs(
                    wheelchair=bool(wheelchair[row]),
                    pets=bool(pets[row]),
                    languages=(
                        frozenset({languages[int(language[row])]})
                        if other_language[row]
                        else frozenset()
                    ),
                    night_arrival=int(hour) % 24 in night_hours,
                ),
                risk=risk,
                avoid_regions=frozenset({region}) if risk == "high" else frozenset(),
                preferred_regions=(
                    frozenset({region}) if risk != "high" and prefers_home[row] else frozenset()
                ),
                trafficking_victim=bool(trafficking[row]),
            )
            callers.append(
                Caller(
                    index=first_index + row,
                    hour=hour,
                    request=request,
                    home_region=region,
                    may_wait=bool(may_wait[row]) and risk != "high",
                    can_wait_hours=bool(can_wait_hours[row]) and risk != "high",
                    draws=tuple(draws[row].tolist()),
                )
            )
        return callers

    def arrivals(self, *, days: int, beds: int, first_weekday: int) -> list[Caller]:
        """The calls of ``days`` days in time order: a Poisson stream whose rate follows
        the hour of day and the day of week, scaled to the network's beds."""
        config = self._config.arrivals
        rng = np.random.default_rng([self._seed, STREAM_ARRIVALS])
        per_hour = config.cases_per_year * beds / config.reference_beds / (365.0 * 24.0)
        hour_w = np.array(config.hour_weights) / np.mean(config.hour_weights)
        day_w = np.array(config.weekday_weights) / np.mean(config.weekday_weights)
        hours = np.arange(days * 24)
        rates = per_hour * hour_w[hours % 24] * day_w[(hours // 24 + first_weekday) % 7]
        counts = rng.poisson(rates)
        moments = np.repeat(hours, counts) + rng.random(int(counts.sum()))
        moments.sort()
        return self._callers(rng, moments, 0)

    def residents(self, count: int) -> list[Caller]:
        """Families already in the network when the run starts (their own stream)."""
        rng = np.random.default_rng([self._seed, STREAM_RESIDENTS])
        drawn = self._callers(rng, np.zeros(count), 0)
        return [replace(caller, index=-1 - caller.index) for caller in drawn]

    def returning(self, caller: Caller, *, index: int, hour: float) -> Caller:
        """The same woman calling again after going back to the perpetrator: her family,
        one more draw of everything else from her own generator."""
        rng = np.random.default_rng([self._seed, STREAM_RETURNS, abs(caller.index)])
        (fresh,) = self._callers(rng, np.array([hour]), index)
        request = replace(
            caller.request,
            reentry=True,
            needs=replace(caller.request.needs, night_arrival=fresh.request.needs.night_arrival),
        )
        return replace(fresh, request=request, home_region=caller.home_region)
