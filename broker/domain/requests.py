"""A family's request as the broker stores it, and its checks (pure functions).

The stored form is plain JSON (on holds and placements) so a declined hold can be matched
again and a placement can be transferred under the same needs. Names never appear here.
"""

from __future__ import annotations

from typing import Any

from broker.domain.rules import Rules
from broker.errors import InvalidInput
from solver.instance import Family, Needs, Person, PlacementRequest

MAX_AVOID_KM = 500.0


def check_regions(request: PlacementRequest, rules: Rules) -> None:
    problems = [
        {"field": field, "message": f"unknown region '{region}'"}
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
            {"field": "preferred_regions", "message": f"also avoided: {', '.join(sorted(both))}"}
        )
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(f"invalid request: {summary}", details=problems)


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


def request_from_json(data: dict[str, Any]) -> PlacementRequest:
    def people(group: list[dict[str, Any]]) -> tuple[Person, ...]:
        return tuple(Person(age=int(p["age"]), male=p["sex"] == "male") for p in group)

    needs = data.get("needs", {})
    return PlacementRequest(
        family=Family(
            adults=people(data["family"]["adults"]), children=people(data["family"]["children"])
        ),
        needs=Needs(
            wheelchair=bool(needs.get("wheelchair", False)),
            pets=bool(needs.get("pets", False)),
            languages=frozenset(needs.get("languages", [])),
            night_arrival=bool(needs.get("night_arrival", False)),
        ),
        risk=str(data.get("risk", "standard")),
        avoid_regions=frozenset(data.get("avoid_regions", [])),
        preferred_regions=frozenset(data.get("preferred_regions", [])),
        reentry=bool(data.get("reentry", False)),
        trafficking_victim=bool(data.get("trafficking_victim", False)),
        avoid_within_km=data.get("avoid_within_km"),
    )
