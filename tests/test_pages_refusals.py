"""A page that refuses a change shows itself again with the reason, and commits nothing the
refused change wrote: the handler raises the page (``api.errors.PageRefusal``), so the
request's unit of work rolls back. Only a refusal that keeps its trace keeps it.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine
from broker.errors import InvalidInput
from broker.services import capacity as capacity_service
from broker.settings import Settings
from tests.conftest import Accounts, create_facility
from tests.session_support import use_page_session

WRITTEN_BY_A_REPORT = ("capacity_reports", "audit_events")


class CountedInvalidInput(InvalidInput):
    """A refusal the page catches as InvalidInput that, like a rate limit, keeps its trace."""

    keeps_trace = True


def _rows(settings: Settings) -> dict[str, int]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in WRITTEN_BY_A_REPORT
            }
    finally:
        engine.dispose()


@pytest.fixture
def staff_page(client: TestClient[Any], admin: dict[str, str], accounts: Accounts) -> int:
    """Signs the client in to the pages as the staff of a new facility; its id."""
    facility_id: int = create_facility(client, admin)["id"]
    token = accounts.headers("staff", "shelter_staff", [facility_id])["Authorization"]
    use_page_session(client, token)
    assert client.get("/staff/capacity").status_code == 200  # sets the CSRF cookie
    return facility_id


def _report(client: TestClient[Any], facility_id: int) -> Any:
    csrf = client.cookies.get("csrftoken") or ""
    return client.post(
        f"/staff/capacity/{facility_id}",
        data={"free_units": "1", "free_beds": "2", "_csrf_token": csrf},
        headers={"x-csrftoken": csrf},
        follow_redirects=False,
    )


def _writes_then_refuses(monkeypatch: pytest.MonkeyPatch, refusal: InvalidInput) -> None:
    """The capacity service records the report, then refuses."""
    record = capacity_service.capacity_report

    def refuse_after_writing(**arguments: Any) -> Any:
        record(**arguments)
        raise refusal

    monkeypatch.setattr(capacity_service, "capacity_report", refuse_after_writing)


def test_a_page_refusal_commits_nothing_the_service_wrote(
    client: TestClient[Any],
    settings: Settings,
    staff_page: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _rows(settings)
    _writes_then_refuses(monkeypatch, InvalidInput("refused after writing"))
    response = _report(client, staff_page)
    assert response.status_code == 422
    # the capacity page itself, with the reason, not the error page
    assert "refused after writing" in response.text
    assert f'action="/staff/capacity/{staff_page}"' in response.text
    assert _rows(settings) == before


def test_a_page_refusal_that_keeps_its_trace_commits_it(
    client: TestClient[Any],
    settings: Settings,
    staff_page: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _rows(settings)
    _writes_then_refuses(monkeypatch, CountedInvalidInput("refused, and counted"))
    response = _report(client, staff_page)
    assert response.status_code == 422
    assert "refused, and counted" in response.text
    assert _rows(settings) == {table: count + 1 for table, count in before.items()}


def test_the_same_change_unrefused_commits(
    client: TestClient[Any], settings: Settings, staff_page: int
) -> None:
    before = _rows(settings)
    response = _report(client, staff_page)
    assert response.status_code == 303
    assert _rows(settings) == {table: count + 1 for table, count in before.items()}


def test_a_failed_sign_in_on_the_page_keeps_its_audit_trace(
    client: TestClient[Any], settings: Settings, accounts: Accounts
) -> None:
    accounts.create("vera", "counsellor")
    csrf = client.get("/login").cookies.get("csrftoken") or ""
    before = _rows(settings)["audit_events"]
    response = client.post(
        "/login",
        data={"username": "vera", "password": "not her password", "_csrf_token": csrf},
        headers={"x-csrftoken": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert _rows(settings)["audit_events"] == before + 1
