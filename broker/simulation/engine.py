"""One run of the simulator: one seed under one policy, event by event, with its metrics.

The run keeps every facility's free units and beds and plays the calls, stays, limits and
planning rounds in time order. It decides nothing itself that the broker decides: whether a
family fits a facility is the solver's hard rules, the ranked choice is ``solver.ranking``,
the optimised rounds are ``solver.plans.solve`` and every plan is checked with
``solver.validate.plan_problems`` before it is applied; a single placement is checked
against the same rules. What belongs to the simulation alone: when families call and leave
(``broker.simulation.population``), and the policy's choices (``broker.simulation.policies``).

Conservation holds at every day's end and is checked there: every family that called
(after the warm-up) is placed, waiting (on the waiting list, or for the planner's next
round) or turned away. Capacity never goes below zero or above the totals.

Times are hours since the start of the run; the first ``warm_up_days`` are played but not
counted.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np

from broker.simulation.config import SimulationConfig
from broker.simulation.networks import SimNetwork
from broker.simulation.population import Caller, Population
from broker.simulation.results import History, StayRecord
from broker.simulation.state import Happening, RunSpec, SimulationError, Stay, Tally
from solver.facility_arrays import FacilityArrays
from solver.feasibility import RequestView, admitting, broken_rule, prepare
from solver.instance import PlacementRequest
from solver.ranking import rank
from solver.transfers import TransferTargets


class Run:
    """The state of one run and the handling of each kind of event."""

    def __init__(self, spec: RunSpec, config: SimulationConfig, sim: SimNetwork) -> None:
        self.spec, self.config, self.sim = spec, config, sim
        self.policy = spec.policy
        self.network = sim.network
        self.states = list(sim.facilities)
        self.free = np.array([f.free_units > 0 for f in self.states], dtype=bool)
        self.free_beds = np.array([f.free_beds for f in self.states], dtype=np.int64)
        # the facilities' fixed attributes, for the rules that do not read free places
        self.all_arrays = FacilityArrays(self.states, self.network)
        self.static_rules = tuple(r for r in self.network.hard_rules if not r.about_free_places)
        self.waiting_masks: dict[int, np.ndarray] = {}
        self.kind_of = [f.kind for f in self.states]
        self.tier_of = np.array([self.network.kinds[k].tier for k in self.kind_of])
        self.secret = np.array([k == "secret_shelter" for k in self.kind_of], dtype=bool)
        groups: dict[tuple[str, str], int] = {}
        self.group_of = np.array(
            [groups.setdefault((f.kind, f.region), len(groups)) for f in self.states]
        )
        kinds: dict[str, int] = {}
        self.kind_group_of = np.array([kinds.setdefault(f.kind, len(kinds)) for f in self.states])
        self.views: dict[PlacementRequest, RequestView] = {}
        self.choosing = "phoning round" if self.policy.matching == "first_fit" else "ranking"
        self.units_by_kind = sim.units_by_kind()
        self.occupied_by_kind = dict.fromkeys(self.units_by_kind, 0)
        self.warm = config.start.warm_up_days * 24.0
        self.end = (config.start.warm_up_days + spec.days) * 24.0
        self.population = Population(
            config, seed=spec.seed, regions=sorted({f.region for f in self.states})
        )
        flexible = (
            frozenset(f.operator_id for f in self.states)
            if self.policy.transfers == "flexible"
            else frozenset()
        )
        self.targets = TransferTargets(self.states, self.network, flexible)
        self.events: list[tuple[float, int, int, object]] = []
        self.sequence = 0
        self.stays: dict[int, Stay] = {}
        self.waiting: dict[int, tuple[Caller, float]] = {}  # caller index -> (caller, since)
        self.held: list[Caller] = []
        self.placed_callers: set[int] = set()
        self.next_index = 0
        self.tally = Tally(daily_occupancy={kind: [] for kind in self.units_by_kind})
        self.today_turned_away = 0
        self.history = History() if spec.keep_history else None
        self.clock: dict[str, float] = {}
        self.house_masks: dict[int, np.ndarray] = {}

    # --- the event queue ------------------------------------------------------------------

    def at(self, moment: float, happening: Happening, what: object = None) -> None:
        if moment <= self.end:
            self.sequence += 1
            heapq.heappush(self.events, (moment, int(happening), self.sequence, what))

    def timed(self, part: str, started: float) -> None:
        self.clock[part] = self.clock.get(part, 0.0) + time.perf_counter() - started

    def now(self, hour: float) -> datetime:
        return self.spec.start + timedelta(hours=hour)

    # --- capacity -------------------------------------------------------------------------

    def take(self, index: int, persons: int) -> None:
        state = self.states[index]
        if state.free_units < 1 or state.free_beds < persons:
            raise SimulationError(f"facility {state.id} has no room for {persons} people")
        state = replace(state, free_units=state.free_units - 1, free_beds=state.free_beds - persons)
        self.states[index] = state
        self.free[index] = state.free_units > 0
        self.free_beds[index] = state.free_beds
        self.occupied_by_kind[state.kind] += 1

    def give_back(self, index: int, persons: int) -> None:
        state = self.states[index]
        units, beds = state.free_units + 1, state.free_beds + persons
        if units > self.sim.total_units[index] or beds > self.sim.total_beds[index]:
            raise SimulationError(f"facility {state.id} would have more free than it has")
        self.states[index] = replace(state, free_units=units, free_beds=beds)
        self.free[index] = True
        self.free_beds[index] = beds
        self.occupied_by_kind[state.kind] -= 1

    # --- choosing a place -----------------------------------------------------------------

    def admissible(self, request: PlacementRequest) -> np.ndarray:
        """Per facility: does every rule that is not about free places let the family in?
        Fixed for the whole run, so it is worked out once per family and search."""
        return admitting(self.view(request), self.all_arrays, self.static_rules)

    def choose(self, caller: Caller, hour: float, allowed: np.ndarray | None = None) -> int | None:
        """The facility the policy picks for the family now, or None: the first that takes
        her (phoning round) or the ranking's best (ranked, and the urgent calls of the
        optimised policy). ``allowed`` narrows the facilities (transfers, one freed place).

        Only facilities with a free unit and beds that the fixed rules admit are handed to
        the solver, which then applies every rule itself; the ranking also gets every
        secret shelter with a free unit, because its secret-buffer part counts them."""
        started = time.perf_counter()
        request = caller.request
        if allowed is not None and not (self.free & allowed).any():
            self.timed(self.choosing, started)
            return None  # nothing allowed is free: no rule needs asking
        static = self.waiting_masks.get(caller.index) if caller.index in self.waiting else None
        if static is None or request.reentry:
            static = self.admissible(request)
        fitting = self.free & static & (self.free_beds >= request.family.persons)
        mask = fitting if allowed is None else fitting & allowed
        indices = np.flatnonzero(mask)
        chosen: int | None = None
        if len(indices):
            if self.policy.matching == "first_fit":
                # every facility in the mask passed the fixed rules and has the room, which
                # is all the rules ask: the round's first is the one it would reach
                chosen = int(indices[0])
            else:
                chosen = self.ranked_choice(request, indices, mask, fitting & ~mask, hour)
        self.timed(self.choosing, started)
        if chosen is not None:
            self.check_fits(caller, chosen)
        return chosen

    def ranked_choice(
        self,
        request: PlacementRequest,
        indices: np.ndarray,
        mask: np.ndarray,
        fitting_elsewhere: np.ndarray,
        hour: float,
    ) -> int | None:
        """The ranking's best among ``indices`` (the facilities in ``mask``, every one of
        which fits; ``fitting_elsewhere``: those that fit but are not allowed).

        In a simulation every report is equally fresh, so facilities of one kind score
        alike in one region, or anywhere for a family without preferred or avoided regions;
        the ranking breaks ties by id, so it would put the first of them before the others:
        only that first one is handed to it. Every free secret shelter is handed over too,
        because the secret-buffer part counts their free units; one that is not allowed is
        passed over in the result."""
        request_regions = request.preferred_regions or request.avoid_regions
        groups = self.group_of if request_regions else self.kind_group_of
        _, first = np.unique(groups[indices], return_index=True)
        shown = indices[first]
        extra = self.secret_extra(shown)
        facilities = [self.states[i] for i in shown] + [self.states[i] for i in extra]
        ranking = rank(
            request,
            facilities,
            self.network,
            now=self.now(hour),
            # only a secret shelter that fits but is not allowed can come before the best
            limit=int(fitting_elsewhere[extra].sum()) + 1,
            near_misses=False,
        )
        for option in ranking.options:
            if mask[option.facility_id - 1]:
                return option.facility_id - 1
        return None

    def secret_extra(self, shown: np.ndarray) -> np.ndarray:
        """Free secret shelters besides ``shown``, enough for the ranking to count the same
        secret-buffer part it would count with all of them: all of them while the national
        free units are at most the buffer, else the first few whose units pass it."""
        free_secret = np.flatnonzero(self.free & self.secret)
        extra = free_secret[~np.isin(free_secret, shown)]
        units = np.array([self.states[i].free_units for i in extra], dtype=np.int64)
        counted = sum(self.states[i].free_units for i in shown if self.secret[i])
        needed = self.network.weights.secret_buffer_units + 1 - counted
        if needed <= 0:
            return extra[:0]
        enough = np.searchsorted(np.cumsum(units), needed) + 1
        return extra[:enough]

    def view(self, request: PlacementRequest) -> RequestView:
        """What the request implies, worked out once while the family is being served."""
        found = self.views.get(request)
        if found is None:
            if len(self.views) > 4096:
                self.views.clear()
            found = self.views[request] = prepare(request, self.network)
        return found

    def check_fits(self, caller: Caller, index: int) -> None:
        started = time.perf_counter()
        broken = broken_rule(self.view(caller.request), self.states[index], self.network)
        if broken is not None:
            raise SimulationError(f"family {caller.index} at facility {index + 1}: {broken.code}")
        self.timed("validation", started)

    # --- stays ----------------------------------------------------------------------------

    def stay_length(self, caller: Caller, kind: str, number: int) -> tuple[float, bool, bool]:
        """Days the family's ``number``-th stay lasts in ``kind``, whether it runs to the
        kind's limit, and whether she then needs a next place."""
        limit_days = self.network.kinds[kind].max_stay_days
        figures = self.config.stays[kind]
        early, when, needs_next = caller.stay_draws(number)
        if early < figures.early_exit_share:
            shortest = min(figures.min_days, limit_days)
            spread = when**figures.early_exit_skew
            return shortest + spread * (limit_days - shortest), False, False
        return float(limit_days), True, needs_next < figures.needs_next_share

    def start_stay(self, caller: Caller, index: int, hour: float, number: int) -> Stay:
        """The family moves in at ``hour`` (before the run's start for a first resident)."""
        self.take(index, caller.request.family.persons)
        if self.history is not None:
            self.history.callers[caller.index] = caller
        length, at_limit, wants_more = self.stay_length(caller, self.kind_of[index], number)
        ends = hour + length * 24
        stay = Stay(len(self.stays), caller, index, number, hour, ends, at_limit, wants_more)
        self.stays[stay.id] = stay
        if not at_limit:
            self.at(ends, Happening.DEPART, stay)
            return stay
        self.at(ends, Happening.LIMIT, stay)
        if wants_more and self.policy.transfers == "flexible":
            lead = self.config.transfers.flexible_lead_days * 24
            self.at(max(hour, ends - lead, 0.0), Happening.FLEX_TRY, stay)
        return stay

    def end_stay(self, stay: Stay, hour: float, how: str) -> None:
        stay.active = False
        self.give_back(stay.facility, stay.caller.request.family.persons)
        if self.history is not None:
            self.history.stays.append(
                StayRecord(
                    family=stay.caller.index,
                    facility=stay.facility,
                    persons=stay.caller.request.family.persons,
                    started=stay.started,
                    ended=hour,
                    how_it_ended=how,
                )
            )

    def counted(self, caller: Caller) -> bool:
        return caller.hour >= self.warm

    def place_first(self, caller: Caller, index: int, hour: float) -> None:
        """A caller's first placement, with what it says about waiting and regions."""
        self.start_stay(caller, index, hour, 0)
        self.placed_callers.add(caller.index)
        if not self.counted(caller):
            return
        tally = self.tally
        tally.placed += 1
        if caller.request.reentry:
            tally.reentry_taken_back += 1
        if hour > caller.hour + 1e-9:
            tally.waited += 1
            tally.days_waited += (hour - caller.hour) / 24
        preferred = caller.request.preferred_regions
        if preferred:
            tally.with_preference += 1
            region = self.states[index].region
            if region not in preferred:
                tally.outside_preferred += 1
                geography = self.network.geography
                tally.km_outside += min(geography.distance_km(region, p) for p in preferred)

    def turn_away(self, caller: Caller, hour: float) -> None:
        if self.history is not None:
            self.history.turned_away.append((hour, caller.index))
        if self.counted(caller):
            self.tally.turned_away += 1
            self.tally.people_turned_away += caller.request.family.persons
            self.today_turned_away += 1

    def start_waiting(self, caller: Caller, hour: float) -> None:
        self.waiting[caller.index] = (caller, hour)
        self.waiting_masks[caller.index] = self.admissible(caller.request)
        self.at(caller.hour + self.config.waiting.wait_days * 24, Happening.WAIT_ENDS, caller)

    def leave_waiting(self, caller: Caller, hour: float) -> None:
        _, since = self.waiting.pop(caller.index)
        self.waiting_masks.pop(caller.index, None)
        if self.counted(caller):
            self.tally.list_entries += 1
            self.tally.list_days += (hour - since) / 24

    # --- what happens -----------------------------------------------------------------

    def arrive(self, caller: Caller, hour: float) -> None:
        counted = self.counted(caller)
        request = caller.request
        if counted:
            self.tally.arrived += 1
            self.tally.people += request.family.persons
            self.tally.reentry_calls += int(request.reentry)
            if request.risk == "high" and not (self.free & self.secret).any():
                self.tally.high_risk_secret_full += 1
        if request.reentry:
            assessment = caller.return_draws[3]
            passes = assessment < self.config.reentry.assessment_pass_share
            if self.policy.reentry != "assessed" or not passes:
                self.turn_away(caller, hour)
                return
        if self.policy.matching == "optimised" and caller.can_wait_hours:
            self.held.append(caller)
            return
        index = self.choose(caller, hour)
        if index is not None:
            self.place_first(caller, index, hour)
        elif caller.may_wait:
            self.start_waiting(caller, hour)
        else:
            self.turn_away(caller, hour)

    def depart(self, stay: Stay, hour: float) -> None:
        if not stay.active:
            return
        self.end_stay(stay, hour, "departed")
        went_back, calls_again, delay, _ = stay.caller.return_draws
        figures = self.config.reentry
        if went_back < figures.returned_to_perpetrator_share and (
            calls_again < figures.calls_again_share
        ):
            low, high = figures.calls_again_days
            moment = hour + (low + delay * (high - low)) * 24
            if moment < self.end:
                self.next_index += 1
                again = self.population.returning(stay.caller, index=self.next_index, hour=moment)
                self.at(moment, Happening.ARRIVE, again)
        self.offer_to_waiting(stay.facility, hour)

    def offer_to_waiting(self, index: int, hour: float) -> None:
        """A place came free: the waiting list, first come first, may take it at once
        (under the optimised policy the planner's next round places the waiting)."""
        if self.policy.matching == "optimised" or not self.waiting:
            return
        only = np.zeros(len(self.states), dtype=bool)
        only[index] = True
        for caller, _ in list(self.waiting.values()):
            if not self.free[index]:
                break
            if self.choose(caller, hour, allowed=only) is not None:
                self.leave_waiting(caller, hour)
                self.place_first(caller, index, hour)

    def limit(self, stay: Stay, hour: float) -> None:
        if not stay.active:
            return
        counted = hour >= self.warm
        if not stay.needs_next:
            self.end_stay(stay, hour, "limit")
            self.offer_to_waiting(stay.facility, hour)
            return
        later_tier = self.tier_of > self.tier_of[stay.facility]
        mover = replace(stay.caller, request=replace(stay.caller.request, reentry=False))
        index = self.choose(mover, hour, allowed=later_tier)
        self.end_stay(stay, hour, "transfer" if index is not None else "limit")
        if index is not None:
            self.start_stay(mover, index, hour, stay.number + 1)
            self.tally.transfers_next_tier += int(counted)
        else:
            self.tally.limit_no_next += int(counted)
        self.offer_to_waiting(stay.facility, hour)

    def house_of(self, index: int) -> np.ndarray:
        """The facilities of the same house (operator and region) on another stay clock,
        where a flexible operator moves a family before her limit."""
        found = self.house_masks.get(index)
        if found is None:
            targets = self.targets.for_resident_of(self.states[index].id)
            found = np.zeros(len(self.states), dtype=bool)
            found[[facility_id - 1 for facility_id in targets.bonus]] = True
            self.house_masks[index] = found
        return found

    def flex_try(self, stay: Stay, hour: float) -> None:
        if not stay.active or hour >= stay.ends:
            return
        mover = replace(stay.caller, request=replace(stay.caller.request, reentry=False))
        index = self.choose(mover, hour, allowed=self.house_of(stay.facility))
        if index is None:
            if hour + 24 < stay.ends:
                self.at(hour + 24, Happening.FLEX_TRY, stay)
            return
        self.end_stay(stay, hour, "transfer")
        self.start_stay(mover, index, hour, stay.number + 1)
        self.tally.transfers_within_house += int(hour >= self.warm)
        self.offer_to_waiting(stay.facility, hour)

    def wait_ends(self, caller: Caller, hour: float) -> None:
        if caller.index in self.waiting:
            self.leave_waiting(caller, hour)
            self.turn_away(caller, hour)

    def day_end(self, hour: float) -> None:
        if self.history is not None:
            self.history.free_at_day_end.append([(s.free_units, s.free_beds) for s in self.states])
        if hour <= self.warm:
            return
        tally = self.tally
        for kind, units in self.units_by_kind.items():
            tally.daily_occupancy[kind].append(
                self.occupied_by_kind[kind] / units if units else 0.0
            )
        tally.daily_turned_away.append(self.today_turned_away)
        self.today_turned_away = 0
        waiting = sum(1 for caller, _ in self.waiting.values() if self.counted(caller))
        waiting += sum(1 for caller in self.held if self.counted(caller))
        balance = (tally.arrived, tally.placed, waiting, tally.turned_away)
        if tally.arrived != tally.placed + waiting + tally.turned_away:
            raise SimulationError(f"day {len(tally.daily_balance)}: families lost {balance}")
        tally.daily_balance.append(balance)
