"""Who may see a console page and send its forms: a signed-in person; forms also need the session's CSRF token
and to come from our own origin. Form bodies are small and urlencoded (no file uploads), read with a bound."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from fastapi import Request

from xorb_orchestrator.api.auth import ApiKeys
from xorb_orchestrator.api.console import session as sessions

MAX_FORM_BYTES = 16_384


class SignInFirst(Exception):
    """No valid session: pages redirect to the sign-in form, live fragments answer 401 (the script reloads)."""

    def __init__(self, back_to: str, fragment: bool) -> None:
        super().__init__(back_to)
        self.back_to, self.fragment = back_to, fragment


class FormRefused(Exception):
    """A form that is not ours (no or wrong CSRF token, another origin) or too big: 403/413 with a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def local_path(target: str | None) -> str:
    """A redirect target of our own: a path on this site, never another host (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/incidents"
    return target


def current(request: Request) -> sessions.Session:
    """The signed-in person's session (dependency of every console page)."""
    keys: ApiKeys = request.app.state.api_keys
    found = sessions.read(keys, request.cookies.get(sessions.COOKIE))
    if found is None:
        # After signing in, a page comes back; a form sent with an ended session is not re-sent (its page is).
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            back = request.headers.get("referer", "").partition(request.headers.get("host", "\0"))[2] or "/incidents"
        raise SignInFirst(back, request.headers.get("x-console-live") == "1")
    request.state.console_session = found
    return found


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form of at most MAX_FORM_BYTES (read no further); repeated names keep their last value."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormRefused(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise FormRefused(415, "the console's forms are sent as application/x-www-form-urlencoded")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "the form could not be read") from None


async def form(request: Request) -> tuple[sessions.Session, dict[str, str]]:
    """The signed-in person's session and their posted form, CSRF-checked."""
    found = current(request)
    fields = await read_form(request)
    if not sessions.same_origin(request):
        raise FormRefused(403, "this form was sent from another site; open the console and send it from there")
    if not sessions.tokens_equal(fields.get("csrf", ""), found.csrf):
        raise FormRefused(403, "this form has expired (sign-in changed); reload the page and send it again")
    return found, fields


def sign_in_url(back_to: str) -> str:
    return "/signin?next=" + quote(local_path(back_to), safe="")
