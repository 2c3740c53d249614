"""Random JSON at every write endpoint: always a 4xx or a success, never a 5xx, and a
refused request leaves the stored facility exactly as it was."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from tests.conftest import Accounts, create_facility, facility_body

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [*sorted(facility_body()), "free_units", "free_beds", "address", "extra"]
NEAR_VALID = st.dictionaries(st.sampled_from(KEYS), SCALARS, max_size=len(KEYS)).map(
    lambda changes: {**facility_body(), **changes}
)
BODIES = st.one_of(JSON, NEAR_VALID)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_random_bodies_never_5xx(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts, body: Any
) -> None:
    existing = client.get("/api/v1/facilities", headers=admin).json()
    if existing:
        facility = existing[0]
    else:
        facility = create_facility(client, admin)
        accounts.create("fuzz-staff", "shelter_staff", [facility["id"]])
    staff = accounts.headers("fuzz-staff")
    fid = facility["id"]
    before = client.get(f"/api/v1/facilities/{fid}", headers=admin).json()
    patch = client.patch(f"/api/v1/facilities/{fid}", json=body, headers=admin)
    capacity = client.put(f"/api/v1/facilities/{fid}/capacity", json=body, headers=staff)
    address = client.put(f"/api/v1/facilities/{fid}/address", json=body, headers=staff)
    created = client.post("/api/v1/facilities", json=body, headers=admin)
    for response in (patch, capacity, address, created):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"status", "code", "message", "details"}
    if patch.status_code >= 400 and capacity.status_code >= 400:
        after = client.get(f"/api/v1/facilities/{fid}", headers=admin).json()
        assert after == before


IDENTITY_KEYS = [
    *("full_name", "birth_date", "police_confirmation_consent", "case_reference", "url"),
    *("action", "since", "until", "limit", "after", "offset"),
]
NEAR_VALID_INQUIRY = st.dictionaries(st.sampled_from(IDENTITY_KEYS), SCALARS, max_size=5).map(
    lambda changes: {
        "full_name": "Próba Piroska",
        "birth_date": "1990-01-01",
        "case_reference": "F-1",
        **changes,
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(JSON, NEAR_VALID_INQUIRY))
def test_random_bodies_at_the_police_webhook_and_identity_endpoints_never_5xx(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts, body: Any
) -> None:
    existing = client.get("/api/v1/facilities", headers=admin).json()
    facility = existing[0] if existing else create_facility(client, admin)
    fid = facility["id"]
    if not existing:
        accounts.create("fuzz-staff-2", "shelter_staff", [fid])
        accounts.create("fuzz-police", "police")
        accounts.create("fuzz-desk", "counsellor")
        accounts.create("fuzz-auditor", "auditor")
    staff, police = accounts.headers("fuzz-staff-2"), accounts.headers("fuzz-police")
    auditor = accounts.headers("fuzz-auditor")
    desk = accounts.headers("fuzz-desk")
    client.put(
        f"/api/v1/facilities/{fid}/capacity",
        json={"free_units": 1, "free_beds": 3},
        headers=staff,
    )
    hold = client.post(
        "/api/v1/holds",
        json={"family": {"adults": [{"age": 30, "sex": "female"}]}, "facility_id": fid},
        headers=desk,
    )
    responses = [
        client.post("/api/v1/police/inquiries", json=body, headers=police),
        client.put(f"/api/v1/facilities/{fid}/webhook", json=body, headers=staff),
        client.get(
            "/api/v1/audit",
            params={str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {},
            headers=auditor,
        ),
    ]
    if hold.status_code == 201:
        confirm = client.post(
            f"/api/v1/holds/{hold.json()['hold_id']}/confirm",
            json={"identity": body},
            headers=staff,
        )
        responses.append(confirm)
        if confirm.status_code == 200:  # free the unit for the next example
            client.post(
                f"/api/v1/placements/{confirm.json()['placement_id']}/depart",
                json={"reason": "independent_housing"},
                headers=staff,
            )
        else:
            client.delete(f"/api/v1/holds/{hold.json()['hold_id']}", headers=desk)
    for response in responses:
        assert response.status_code < 500, (response.request.url, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"status", "code", "message", "details"}
