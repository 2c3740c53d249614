"""Helpers for placement tests: family bodies and a small network made through the API."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import Accounts, create_facility


def family(
    adults: int = 1, children: tuple[tuple[int, str], ...] = ((6, "female"),), **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "family": {
            "adults": [{"age": 30 + i, "sex": "female"} for i in range(adults)],
            "children": [{"age": age, "sex": sex} for age, sex in children],
        }
    }
    body.update(extra)
    return body


class Desk:
    """An admin, a counsellor and shelter staff working on facilities made through the API."""

    def __init__(self, client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> None:
        self.client, self.accounts, self.admin = client, accounts, admin
        self.counsellor = accounts.headers("desk-counsellor", "counsellor")
        self.staff: dict[int, dict[str, str]] = {}

    def facility(self, free_units: int = 1, free_beds: int = 3, **fields: Any) -> int:
        created = create_facility(self.client, self.admin, **fields)
        fid = int(created["id"])
        self.staff[fid] = self.accounts.headers(f"staff-{fid}", "shelter_staff", [fid])
        if free_units or free_beds:
            self.report(fid, free_units, free_beds)
        return fid

    def report(self, fid: int, units: int, beds: int) -> None:
        response = self.client.put(
            f"/api/v1/facilities/{fid}/capacity",
            json={"free_units": units, "free_beds": beds},
            headers=self.staff[fid],
        )
        assert response.status_code == 200, response.text

    def free(self, fid: int) -> tuple[int, int]:
        body = self.client.get(f"/api/v1/facilities/{fid}", headers=self.admin).json()
        return body["free_units"], body["free_beds"]

    def reported(self, fid: int) -> tuple[int, int]:
        body = self.client.get(f"/api/v1/facilities/{fid}", headers=self.admin).json()
        return body["reported_free_units"], body["reported_free_beds"]

    def hold(self, fid: int, body: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.client.post(
            "/api/v1/holds",
            json={**(body or family()), "facility_id": fid, **extra},
            headers=self.counsellor,
        )

    def confirm(self, hold_id: str, fid: int) -> Any:
        return self.client.post(f"/api/v1/holds/{hold_id}/confirm", headers=self.staff[fid])

    def match(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/api/v1/matches", json=body, headers=self.counsellor)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result
