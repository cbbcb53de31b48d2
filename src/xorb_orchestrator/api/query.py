"""Query parameters cannot be misspelt silently: `?stauts=open` used to list every incident. A /v1 route answers
400 for a parameter it does not take, naming the closest one it does."""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from xorb_orchestrator.api.errors import ApiError


async def known_query_parameters(request: Request) -> None:
    """FastAPI dependency for every /v1 route."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = set(_query_names(route.dependant))
    unknown = [name for name in request.query_params if name not in known]
    if not unknown:
        return
    fields = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"takes: {', '.join(sorted(known)) or 'none'}"
        fields.append({"field": name[:100], "message": f"not a parameter of this operation ({hint})"})
    raise ApiError(400, "invalid_query", f"unknown query parameter {unknown[0][:100]!r}", fields=fields)


def _query_names(dependant: Any) -> list[str]:
    """The query parameters a route (and the dependencies it declares) reads, by the names clients send."""
    names = [str(param.alias) for param in dependant.query_params]
    for sub in dependant.dependencies:
        names += _query_names(sub)
    return names
