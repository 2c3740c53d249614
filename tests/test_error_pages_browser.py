"""The layout around every page in headless Chromium: the 403 page of a signed-in user keeps
her role's navigation and the sign-out button, and every page has a favicon of its own,
served without a session and under the same protective headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.headers import CONTENT_SECURITY_POLICY
from tests.browser_support import demo_server, login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ICO_HEADER = b"\x00\x00\x01\x00"  # reserved 0, type 1 (icon)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory.mktemp("error-pages")) as base:
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with new_page(browser) as opened:
        yield opened


def test_wrong_role_page_keeps_navigation_and_sign_out(page: Any, server: str) -> None:
    login(page, server, "house-staff")
    page.wait_for_url(f"{server}/staff/capacity")
    response = page.goto(f"{server}/call")
    assert response is not None and response.status == 403
    assert page.locator("main h1").inner_text() == "403"
    assert "may not use this route" in page.get_by_role("alert").inner_text()
    links = page.locator("header.bar nav a").evaluate_all(
        "as => as.map(a => a.getAttribute('href'))"
    )
    assert links == ["/staff/capacity", "/staff/holds", "/staff/residents", "/inbox"]
    assert "house-staff" in page.locator("header.bar .who").inner_text()
    # the same stylesheet and layout as every other page
    assert page.locator("link[rel=stylesheet][href='/static/broker.css']").count() == 1
    shot(page, "error-403-staff")

    # the navigation works from here, and so does signing out
    page.locator("header.bar nav a[href='/inbox']").click()
    page.wait_for_url(f"{server}/inbox")
    page.goto(f"{server}/call")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server}/login")
    page.goto(f"{server}/staff/capacity")
    assert page.url.endswith("/login")  # the session ended


def test_favicon_is_public_and_every_page_links_it(page: Any, server: str) -> None:
    # without a session, like the stylesheet
    response = httpx.get(f"{server}/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/")
    assert response.content.startswith(ICO_HEADER)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"

    def check_icons() -> None:
        hrefs = page.locator("head link[rel=icon]").evaluate_all(
            "ls => ls.map(l => l.getAttribute('href'))"
        )
        assert "/favicon.ico" in hrefs
        for href in hrefs:
            fetched = page.request.get(f"{server}{href}")
            assert fetched.status == 200, href
            assert fetched.headers["content-type"].startswith("image/"), href

    page.goto(f"{server}/login")
    check_icons()
    login(page, server, "house-staff")
    page.wait_for_url(f"{server}/staff/capacity")
    check_icons()
    page.goto(f"{server}/call")  # the 403 page too
    check_icons()
