"""The police page: an officer asks whether a person was placed, and reads the answer.

It answers through the same function as ``POST /api/v1/police/inquiries``, so the page too
answers no sooner than the floor that keeps "placed" and "not placed" equally fast. A rate
limit keeps its trace, as on the JSON API; any other refusal writes nothing.
"""

from __future__ import annotations

from litestar import get, post
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK

from api.controllers.police import answer_no_sooner_than_the_floor
from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.pages.common import Form, birth_date, refused
from broker.domain.access import Role
from broker.errors import InvalidInput, RateLimited


@get("/police", opt=allow(Role.POLICE, via="cookie"))
async def police_page(actor: Actor) -> Template:
    return Template("police.html", context={"actor": actor, "answer": None, "error": None})


@post(
    "/police",
    opt=allow(Role.POLICE, via="cookie"),
    status_code=HTTP_200_OK,
)
async def police_submit(
    data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template:
    """The same form, with the answer under it; nothing else is shown."""
    try:
        answer = await answer_no_sooner_than_the_floor(
            db=db,
            broker=broker,
            officer=actor,
            full_name=data.get("full_name", ""),
            birth_date=birth_date(data.get("birth_date", "")),
            case_reference=data.get("case_reference", ""),
            now=now,
        )
    except (InvalidInput, RateLimited) as problem:
        page = Template(
            "police.html",
            context={"actor": actor, "answer": None, "error": problem.message},
            status_code=problem.status_code,
        )
        raise refused(db, problem, page) from problem
    return Template("police.html", context={"actor": actor, "answer": answer, "error": None})
