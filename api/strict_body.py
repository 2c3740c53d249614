"""Checks on a request's input before anything decodes it or reaches the database.

Litestar runs :func:`check_strict_json_body` before every handler, after the guards:

* An id in the path that no row can have (an integer outside ``1..MAX_ID``, a string with
  a control character) is 404 at once: such a value would otherwise reach the database,
  and PostgreSQL answers an ``integer`` overflow or a NUL with an error, not an empty row.
  A facility named in the path must exist, whatever the route and role (404 otherwise);
  an existing one that is not a staff member's own is 403 from the service. Which
  facility ids exist is no secret: counsellors read the whole registry.
* A query value with a control character is 422, for the same reason.
* A JSON body nested deeper than :data:`MAX_DEPTH` is 400 before any parser sees it: JSON
  parsers recurse, and a body of fifty thousand ``[`` would exhaust the stack.
* Litestar converts bodies leniently (the string "2" becomes the integer 2). A hotline's
  numbers and consents should not be guessed at, so a JSON body meant for a
  :class:`api.schemas.Strict` struct (or an optional one) is decoded once more with
  msgspec in strict mode; a wrong type is then the same 422 as any other schema error.
"""

from __future__ import annotations

import re
import types
import typing
from itertools import accumulate
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, ValidationException
from litestar.params import BodyKwarg

from api.deps import broker_state
from api.schemas import MAX_ID, Strict
from broker.db.engine import open_session
from broker.db.models import Facility
from broker.errors import NotFound
from broker.i18n import N_, gettext

MAX_DEPTH = 32

_PATH = re.compile(r"at `\$\.?([^`]*)`")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# A JSON string, escapes included; an unterminated one runs to the end of the body, so
# that the pattern always matches at its first quote and never rescans what follows.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def too_deep(body: bytes) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_DEPTH` in ``body`` (brackets
    inside strings do not count).

    Linear in the size of the body, and made for malformed JSON too: an unclosed bracket
    still counts, as a parser would already have recursed into it."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    steps = memoryview(brackets.translate(_STEPS)).cast("b")
    return max(accumulate(steps), default=0) > MAX_DEPTH


def _json_body_type(request: Request[Any, Any, Any]) -> tuple[bool, Any]:
    """Whether the handler decodes a JSON body, and the type it is decoded to."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return False, None
    definition = field.kwarg_definition
    if isinstance(definition, BodyKwarg) and definition.media_type not in (
        None,
        RequestEncodingType.JSON,
    ):
        return False, None
    return True, field.annotation


def _is_strict(annotation: Any) -> bool:
    """A :class:`Strict` struct, or a union of such structs and ``None``."""
    if isinstance(annotation, type):
        return issubclass(annotation, Strict)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(members) and all(_is_strict(arg) for arg in members)
    return False


# What the path names, said whole so that each reads naturally in every language
_NO_SUCH = {
    "facility": N_("no facility with this id"),
    "hold": N_("no hold with this id"),
    "notice": N_("no notice with this id"),
    "operator": N_("no operator with this id"),
    "placement": N_("no placement with this id"),
    "plan": N_("no plan with this id"),
    "waitlist": N_("no waitlist with this id"),
}


def _no_such(noun: str) -> str:
    known = _NO_SUCH.get(noun)
    if known is not None:
        return gettext(known)
    return gettext("no {noun} with this id").format(noun=noun)


def _check_path(request: Request[Any, Any, Any]) -> int | None:
    """Refuses ids that cannot exist; returns the facility id named in the path, if any."""
    for name, value in request.path_params.items():
        if (isinstance(value, int) and not 1 <= value <= MAX_ID) or (
            isinstance(value, str) and _CONTROL.search(value)
        ):
            raise NotFound(_no_such(name.removesuffix("_id")))
    facility_id = request.path_params.get("facility_id")
    return facility_id if isinstance(facility_id, int) else None


def _facility_exists(request: Request[Any, Any, Any], facility_id: int) -> bool:
    state = broker_state(request)
    session = open_session(state.engine, write=False)
    try:
        return session.get(Facility, facility_id) is not None
    finally:
        session.close()


def _check_query(request: Request[Any, Any, Any]) -> None:
    for key, value in request.query_params.multi_items():
        if _CONTROL.search(key) or _CONTROL.search(value):
            field = key if not _CONTROL.search(key) else ""
            raise ValidationException(
                detail=gettext("the request does not fit the schema"),
                extra=[{"key": field, "message": gettext("control characters are not allowed")}],
            )


def _schema_error(exc: msgspec.ValidationError) -> ValidationException:
    text = str(exc)
    found = _PATH.search(text)
    field = found.group(1) if found else ""
    message = _PATH.sub("", text).rstrip(" -")
    if "matching regex" in message:
        # every pattern in the schemas refuses control characters; the regex says less
        message = gettext("must not contain control characters")
    return ValidationException(
        detail=gettext("the request does not fit the schema"),
        extra=[{"key": field, "message": message}],
    )


async def check_strict_json_body(request: Request[Any, Any, Any]) -> None:
    """The input checks above, in that order; raises the error response's exception."""
    facility_id = _check_path(request)
    _check_query(request)
    if facility_id is not None and not await anyio.to_thread.run_sync(
        _facility_exists, request, facility_id
    ):
        raise NotFound(gettext("no facility with id {id}").format(id=facility_id))
    decodes_json, annotation = _json_body_type(request)
    if not decodes_json:
        return
    body = await request.body()
    if too_deep(body):
        raise ClientException(
            detail=gettext("JSON nested deeper than {depth} levels").format(depth=MAX_DEPTH)
        )
    if not _is_strict(annotation):
        return
    try:
        msgspec.json.decode(body, type=annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc) from None
    except msgspec.DecodeError:
        return  # malformed JSON: Litestar's own parsing answers 400
