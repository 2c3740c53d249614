"""The language and time zone of a request, and the switch between languages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.i18n import LANGUAGE_COOKIE, request_language
from broker.errors import ConfigurationError
from broker.i18n import (
    Catalogues,
    Locale,
    check_time_zone,
    gettext,
    local_datetime,
    local_number,
    local_share,
    local_time,
    preferred_language,
    using,
)
from broker.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "hu"),
        ("en-US,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"),
        ("de,fr", "hu"),
        ("en;q=0.4,hu;q=0.8", "hu"),
        ("hu-HU", "hu"),
        ("en;q=0,hu;q=0.1", "hu"),
        ("*", "hu"),
        ("en;q=abc", "hu"),
        ("e\x00n", "hu"),
    ],
)
def test_accept_language_picks_the_best_of_ours(header: str, expected: str) -> None:
    assert preferred_language(header, "hu") == expected


def _scope(path: str, **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_a_saved_choice_beats_the_browser_and_the_default() -> None:
    assert request_language(_scope("/call"), "hu") == "hu"
    assert request_language(_scope("/call", accept_language="en"), "hu") == "en"
    chosen = _scope("/call", accept_language="en", cookie=f"{LANGUAGE_COOKIE}=hu")
    assert request_language(chosen, "en") == "hu"
    unknown = _scope("/call", cookie=f"{LANGUAGE_COOKIE}=xx")
    assert request_language(unknown, "hu") == "hu"
    broken = _scope("/call", cookie='a="\\')
    assert request_language(broken, "en") == "en"


def test_the_api_speaks_english_unless_asked() -> None:
    assert request_language(_scope("/api/v1/matches", cookie=f"{LANGUAGE_COOKIE}=hu"), "hu") == "en"
    assert request_language(_scope("/api/v1/matches", accept_language="hu"), "hu") == "hu"


def test_times_are_local_and_in_the_readers_form() -> None:
    moment = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)  # 14:05 in Budapest (CET)
    summer = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Budapest (CEST)
    zone = check_time_zone("Europe/Budapest")
    catalogues = Catalogues(DATA / "locale")
    with using(Locale("hu", zone, catalogues.translations("hu"))):
        assert local_datetime(moment) == "2026. 11. 29. 14:05"
        assert local_time(summer) == "12:00"
        assert gettext("Sign in") == "Bejelentkezés"
    with using(Locale("en", zone, catalogues.translations("en"))):
        assert local_datetime(moment) == "29/11/2026, 14:05"
        assert gettext("Sign in") == "Sign in"
    # outside a request: English, UTC
    assert local_time(moment) == "13:05"


def test_counts_and_shares_are_in_the_readers_form() -> None:
    """The plan page's numbers: "2 430" (a no-break space) and "0,01%" in Hungarian."""
    with using(Locale("hu")):
        assert local_number(2430) == "2\u00a0430"
        assert local_number(7) == "7"
        assert local_share(1e-4) == "0,01%"
        assert local_share(0.0) == "0%"
    with using(Locale("en")):
        assert local_number(2430) == "2,430"
        assert local_share(1e-4) == "0.01%"
        assert local_share(0.005) == "0.5%"


@pytest.mark.parametrize(("field", "value"), [("language", "de"), ("time_zone", "Mars/Olympus")])
def test_settings_refuse_an_unknown_language_or_zone(field: str, value: str) -> None:
    with pytest.raises(ConfigurationError):
        dataclasses.replace(Settings(), **{field: value}).validate()


@pytest.mark.parametrize(
    ("next_path", "lands"),
    [("/call", "/call"), ("//evil.example/x", "/"), ("https://evil.example", "/"), ("/\\x", "/")],
)
def test_the_switch_saves_the_choice_and_stays_on_this_site(
    client: TestClient[Any], next_path: str, lands: str
) -> None:
    page = client.get("/login")
    token = client.cookies.get("csrftoken") or ""
    response = client.post(
        "/language",
        data={"language": "hu", "next": next_path, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == lands
    assert client.cookies.get(LANGUAGE_COOKIE) == "hu"
    assert page.status_code == 200
