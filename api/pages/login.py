"""Sign-in and sign-out pages.

Sign-in has two steps for an account with a second factor: the password, then the code.
Its refusals are counted against the throttle and audited before they are raised, so they
keep that trace (and only that) when the page answers them.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from api.deps import Broker, DbSession, Now
from api.guards import allow, credential_of, public
from api.pages.common import Form, home_for, refused, session_cookie
from broker.domain.access import ALL_ROLES
from broker.errors import OtpInvalid, RateLimited, SecondFactorNotEnrolled, SignInFailed
from broker.i18n import N_, gettext
from broker.services import accounts

PENDING_COOKIE = "broker_signin"
# translated when the page is shown
WRONG_PASSWORD = N_("Wrong username or password.")
WRONG_CODE = N_("That code is wrong, has expired or was used already.")
SIGN_IN_EXPIRED = N_("The sign-in has expired. Enter your username and password again.")
NOT_ENROLLED = N_(
    "This account has no second factor, which this broker requires. "
    "Ask an administrator to enrol one, then sign in with its code."
)


def _pending_cookie(broker: Broker, value: str, *, max_age: int) -> Cookie:
    """Carries a sign-in whose password was right to the form that asks for its code. It
    opens nothing by itself, and lives only on the sign-in page."""
    return Cookie(
        key=PENDING_COOKIE,
        value=value,
        max_age=max_age,
        httponly=True,
        secure=broker.settings.secure_cookies,
        samesite="strict",
        path="/login",
    )


def _login_form(
    *,
    step: str = "password",
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Template:
    return Template(
        "login.html",
        context={"error": gettext(error) if error else None, "username": username, "step": step},
        status_code=status_code,
        headers=headers,
        cookies=cookies,
    )


def _signed_in(broker: Broker, signed_in: accounts.SignedIn) -> Redirect:
    return Redirect(
        home_for(signed_in.principal),
        status_code=303,
        cookies=[
            session_cookie(broker, signed_in.token, max_age=int(broker.token_ttl.total_seconds())),
            _pending_cookie(broker, "", max_age=0),
        ],
    )


@get("/login", opt=public(via="cookie"))
async def login_page() -> Template:
    return _login_form()


@post("/login", opt=public(via="cookie"), sync_to_thread=True)
def login_submit(
    request: Request[Any, Any, Any], data: Form, db: DbSession, broker: Broker, now: Now
) -> Template | Redirect:
    """Step one takes the username and password; an account with a second factor is then
    asked for its code (step two, ``step=code``)."""
    policy = accounts.SignInPolicy.from_settings(broker.settings)
    client = request.client.host if request.client else None
    username = data.get("username", "")[:80]
    try:
        if data.get("step") == "code":
            signed_in = accounts.sign_in_second_step(
                session=db,
                token_secret=broker.settings.token_secret_bytes,
                policy=policy,
                pending_token=request.cookies.get(PENDING_COOKIE, ""),
                otp=data.get("code", "")[:40],
                client=client,
                now=now,
            )
            return _signed_in(broker, signed_in)
        outcome = accounts.sign_in(
            session=db,
            passwords=broker.passwords,
            token_secret=broker.settings.token_secret_bytes,
            policy=policy,
            username=username,
            password=data.get("password", "")[:200],
            otp=None,
            client=client,
            now=now,
            page=True,
        )
    except RateLimited as problem:
        seconds = problem.retry_after_seconds or 1
        wait = gettext("Too many failed sign-ins. Try again in %(wait)s.") % {
            "wait": accounts.wait_text(seconds)
        }
        retry = {"Retry-After": str(seconds)}
        page = _login_form(error=wait, username=username, status_code=429, headers=retry)
        raise refused(db, problem, page) from problem
    except OtpInvalid as problem:
        page = _login_form(step="code", error=WRONG_CODE, status_code=401)
        raise refused(db, problem, page) from problem
    except SecondFactorNotEnrolled as problem:
        page = _login_form(error=NOT_ENROLLED, username=username, status_code=403)
        raise refused(db, problem, page) from problem
    except SignInFailed as problem:
        if data.get("step") == "code":
            forget = [_pending_cookie(broker, "", max_age=0)]
            page = _login_form(error=SIGN_IN_EXPIRED, status_code=401, cookies=forget)
        else:
            page = _login_form(error=WRONG_PASSWORD, username=username, status_code=401)
        raise refused(db, problem, page) from problem
    if isinstance(outcome, accounts.SecondFactorPending):
        return _login_form(
            step="code",
            cookies=[
                _pending_cookie(
                    broker, outcome.token, max_age=int(accounts.PENDING_TTL.total_seconds())
                )
            ],
        )
    return _signed_in(broker, outcome)


@post(
    "/logout",
    opt=allow(*ALL_ROLES, via="cookie"),
    sync_to_thread=True,
)
def logout_submit(
    request: Request[Any, Any, Any], db: DbSession, broker: Broker, now: Now
) -> Redirect:
    accounts.logout(
        session=db,
        token_secret=broker.settings.token_secret_bytes,
        token=credential_of(request, "cookie") or "",
        now=now,
    )
    return Redirect("/login", status_code=303, cookies=[session_cookie(broker, "", max_age=0)])
