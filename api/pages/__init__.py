"""Server-rendered pages, one module per role.

    common       what the pages share: form types, the session cookie, each role's home,
                 hold-state texts, field errors, and the refusal a page raises
    login        sign-in (password, then a second factor's code) and sign-out
    shared       the root redirect, home, the facilities overview, the inbox and the favicon
    dashboard    the statistics dashboard (counsellors and admins)
    simulations  the policy simulator: start a simulation, follow it, read its report
    plans        one plan: its status, its risk-weighted placements and bound, its places
    call         the counsellor's call screen: match, hold, release, match again
    waitlist     the call screen's waiting list: add the family, hold the place found, remove
    family_form  the call screen's family form, checked by the JSON API's schema
    staff        the shelter's capacity, incoming holds, residents and police notices
    police       the police inquiry

Pages authenticate with the session cookie only and every form carries Litestar's CSRF
token. Each handler parses, calls the service it is about and renders. A change that
succeeds answers with a redirect (post/redirect/get), so reloading the page never holds a
second place or records a departure twice; a refused one raises the page with the reason
(``common.PageRefusal``), so nothing it wrote commits.
"""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from api.pages.call import call_hold, call_match, call_match_again, call_page, call_release
from api.pages.dashboard import dashboard_page
from api.pages.login import login_page, login_submit, logout_submit
from api.pages.plans import plan_page
from api.pages.police import police_page, police_submit
from api.pages.shared import favicon, home, inbox_page, overview_page, root
from api.pages.simulations import SimulationPages
from api.pages.staff import (
    capacity_page,
    capacity_submit,
    incoming_confirm,
    incoming_decline,
    incoming_page,
    notice_seen_submit,
    residents_depart,
    residents_page,
)
from api.pages.waitlist import call_waitlist_add, call_waitlist_hold, call_waitlist_remove

PAGE_HANDLERS: list[ControllerRouterHandler] = [
    root,
    login_page,
    login_submit,
    logout_submit,
    home,
    capacity_page,
    capacity_submit,
    overview_page,
    dashboard_page,
    SimulationPages,
    plan_page,
    call_page,
    call_match,
    call_hold,
    call_release,
    call_match_again,
    call_waitlist_add,
    call_waitlist_hold,
    call_waitlist_remove,
    incoming_page,
    incoming_confirm,
    incoming_decline,
    residents_page,
    residents_depart,
    notice_seen_submit,
    police_page,
    police_submit,
    inbox_page,
    favicon,
]
