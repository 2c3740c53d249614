"""Exact JSON types for request bodies.

Litestar converts bodies leniently (the string "2" becomes the integer 2). A hotline's
numbers should not be guessed at, so before a handler runs, a JSON body meant for a
:class:`api.schemas.Strict` struct is decoded once more with msgspec in strict mode; a
wrong type is then the same 422 as any other schema error.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from api.schemas import Strict

_PATH = re.compile(r"at `\$\.?([^`]*)`")


def _body_struct(request: Request[Any, Any, Any]) -> type[Strict] | None:
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, Strict):
        return annotation
    return None


async def check_strict_json_body(request: Request[Any, Any, Any]) -> None:
    struct = _body_struct(request)
    if struct is None:
        return
    body = await request.body()
    try:
        msgspec.json.decode(body, type=struct, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _PATH.search(text)
        field = found.group(1) if found else ""
        message = _PATH.sub("", text).rstrip(" -")
        raise ValidationException(
            detail="the request does not fit the schema", extra=[{"key": field, "message": message}]
        ) from None
    except msgspec.DecodeError:
        return  # malformed JSON: Litestar's own parsing answers 400
