"""Signing in to the console with a person's API key, and out again."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from xorb_orchestrator.api.auth import ApiKeys, key_digest
from xorb_orchestrator.api.console import session as sessions
from xorb_orchestrator.api.console.guard import form, local_path, read_form
from xorb_orchestrator.api.console.render import page, redirect

log = logging.getLogger(__name__)
router = APIRouter()


def _form_page(request: Request, next_path: str, problem: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(16)
    response = page(request, "signin.html", status, next_path=next_path, token=token, problem=problem, session=None)
    sessions.set_cookie(response, request, sessions.SIGNIN_COOKIE, token, max_age=3600)
    return response


@router.get("/signin")
async def signin_form(request: Request, next: str = "/incidents") -> Response:
    return _form_page(request, local_path(next))


@router.post("/signin")
async def signin(request: Request) -> Response:
    fields = await read_form(request)
    next_path = local_path(fields.get("next"))
    expected = request.cookies.get(sessions.SIGNIN_COOKIE, "")
    if (
        not expected
        or not sessions.tokens_equal(fields.get("token", ""), expected)
        or not sessions.same_origin(request)
    ):
        return _form_page(request, next_path, "The sign-in form expired; please sign in again.", 403)
    key = fields.get("key", "").strip()
    keys: ApiKeys = request.app.state.api_keys
    accepted, person = keys.match(key) if key else (False, None)
    if not accepted:
        log.warning("console sign-in refused: not a key this API accepts (from %s)", _peer(request))
        return _form_page(request, next_path, "That is not a key this service accepts.", 401)
    if person is None:
        return _form_page(
            request,
            next_path,
            "That is a service key: the console needs a person's own key (a '<key> <person> <role>,...' line in "
            "XORB_API_KEY_FILE; `xorb dev` prints one as its console key), so every decision is theirs.",
            403,
        )
    log.info("console sign-in: %s", person.name)
    response = redirect(request, next_path)
    sessions.set_cookie(response, request, sessions.COOKIE, sessions.issue(key_digest(key), person),
                        max_age=sessions.LIFETIME_SECONDS)  # fmt: skip
    response.delete_cookie(sessions.SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session, _ = await form(request)  # CSRF-checked: another site cannot sign a person out either
    log.info("console sign-out: %s", session.person.name)
    response = redirect(request, "/signin", "Signed out.")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


def _peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"
