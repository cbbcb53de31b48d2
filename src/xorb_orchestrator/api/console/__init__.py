"""The SOC console: server-rendered pages at `/`, for people signed in with their own API key (docs/console.md).

Jinja2 templates and one small script of our own (live refresh, confirmations), served from the package: no
build step, no CDN, nothing fetched from elsewhere. Not part of the OpenAPI document (the JSON API is)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from xorb_orchestrator.api.console import actions, pages, signin
from xorb_orchestrator.api.console.guard import FormRefused, SignInFirst, sign_in_url
from xorb_orchestrator.api.console.render import HERE, SECURITY_HEADERS, page, redirect

STATIC_PATH = "/console-static"


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInFirst)
    if exc.fragment:  # a live refresh: the page's script reloads, which then lands on the sign-in form
        return PlainTextResponse("sign in again", status_code=401, headers=SECURITY_HEADERS)
    return redirect(request, sign_in_url(exc.back_to))


async def _form_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormRefused)
    return page(request, "problem.html", exc.status, problem=exc.message)


def install_console(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console-static")
    for router in (signin.router, pages.router, actions.router):
        app.include_router(router, include_in_schema=False)
    app.add_exception_handler(SignInFirst, _sign_in_first)
    app.add_exception_handler(FormRefused, _form_refused)
