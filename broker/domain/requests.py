"""A family's request as the broker stores it, and its checks (pure functions).

The stored form is plain JSON (on holds and placements) so a declined hold can be matched
again and a placement can be transferred under the same needs. Names never appear here.
"""

from __future__ import annotations

from typing import Any

from broker.domain.rules import Rules
from broker.errors import InvalidInput
from broker.i18n import gettext
from solver.instance import Family, Needs, Person, PlacementRequest

MAX_AVOID_KM = 500.0


def check_regions(request: PlacementRequest, rules: Rules) -> None:
    problems = [
        {"field": field, "message": gettext("unknown region '{region}'").format(region=region)}
        for field, regions in (
            ("avoid_regions", request.avoid_regions),
            ("preferred_regions", request.preferred_regions),
        )
        for region in sorted(regions)
        if not rules.has_region(region)
    ]
    both = request.avoid_regions & request.preferred_regions
    if both:
        problems.append(
            {
                "field": "preferred_regions",
                "message": gettext("also avoided: {regions}").format(
                    regions=", ".join(sorted(both))
                ),
            }
        )
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(
            gettext("invalid request: {problems}").format(problems=summary), details=problems
        )


def request_to_json(request: PlacementRequest) -> dict[str, Any]:
    def people(group: tuple[Person, ...]) -> list[dict[str, Any]]:
        return [{"age": p.age, "sex": "male" if p.male else "female"} for p in group]

    return {
        "family": {
            "adults": people(request.family.adults),
            "children": people(request.family.children),
        },
        "needs": {
            "wheelchair": request.needs.wheelchair,
            "pets": request.needs.pets,
            "languages": sorted(request.needs.languages),
            "night_arrival": request.needs.night_arrival,
        },
        "risk": request.risk,
        "avoid_regions": sorted(request.avoid_regions),
        "preferred_regions": sorted(request.preferred_regions),
        "reentry": request.reentry,
        "trafficking_victim": request.trafficking_victim,
        "avoid_within_km": request.avoid_within_km,
    }


def _exact(value: Any, kinds: tuple[type, ...], field: str) -> Any:
    # ``bool("false")`` is True and ``int(True)`` is 1: coercing here would turn a wrong
    # type into the opposite answer, so a value must already be what it claims to be
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise InvalidInput(
            gettext("invalid request: {field} has the wrong type").format(field=field),
            details=[{"field": field, "message": "wrong type"}],
        )
    return value


def request_from_json(data: dict[str, Any]) -> PlacementRequest:
    """The request in its stored form, type for type; a wrong type is :class:`InvalidInput`
    (the API's schemas refuse those first, so only a damaged stored request gets here)."""

    def people(group: list[dict[str, Any]], field: str) -> tuple[Person, ...]:
        return tuple(
            Person(
                age=_exact(p["age"], (int,), f"{field}.age"),
                male=_exact(p["sex"], (str,), f"{field}.sex") == "male",
            )
            for p in _exact(group, (list,), field)
        )

    def flag(source: dict[str, Any], key: str, field: str) -> bool:
        return bool(_exact(source.get(key, False), (bool,), field))

    def names(source: dict[str, Any], key: str) -> frozenset[str]:
        values = _exact(source.get(key, []), (list,), key)
        return frozenset(_exact(value, (str,), key) for value in values)

    needs = _exact(data.get("needs", {}), (dict,), "needs")
    family = _exact(data["family"], (dict,), "family")
    km = data.get("avoid_within_km")
    return PlacementRequest(
        family=Family(
            adults=people(family["adults"], "family.adults"),
            children=people(family["children"], "family.children"),
        ),
        needs=Needs(
            wheelchair=flag(needs, "wheelchair", "needs.wheelchair"),
            pets=flag(needs, "pets", "needs.pets"),
            languages=names(needs, "languages"),
            night_arrival=flag(needs, "night_arrival", "needs.night_arrival"),
        ),
        risk=_exact(data.get("risk", "standard"), (str,), "risk"),
        avoid_regions=names(data, "avoid_regions"),
        preferred_regions=names(data, "preferred_regions"),
        reentry=flag(data, "reentry", "reentry"),
        trafficking_victim=flag(data, "trafficking_victim", "trafficking_victim"),
        avoid_within_km=None if km is None else _exact(km, (int, float), "avoid_within_km"),
    )
