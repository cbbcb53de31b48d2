"""Rendering the console's pages: Jinja2 templates (autoescaped), the headers every page carries, flash notes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from xorb_orchestrator.api.console.session import set_cookie

HERE = Path(__file__).parent
FLASH_COOKIE = "xorb_flash"
MAX_SHOWN_JSON = 20_000  # characters of a raw alert sample shown; the rest is cut (and said)

# Scripts, styles and forms only from this origin; no framing (clickjacking of approve buttons).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show live state and a CSRF token: never from a cache
}


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _relative(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' / 'in 2 h': what a person reads at a glance next to the exact time."""
    if moment is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds / size:.0f} {unit}"
            break
    else:
        amount = f"{seconds:.0f} s"
    return f"in {amount}" if ahead else f"{amount} ago"


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    if len(text) > MAX_SHOWN_JSON:
        return text[:MAX_SHOWN_JSON] + f"\n… ({len(text) - MAX_SHOWN_JSON} more characters not shown)"
    return text


ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a misspelt variable is an error in the tests, not a blank on the page
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(when=_when, relative=_relative, pretty=_pretty, urlpart=lambda text: quote(str(text), safe=""))


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A whole page or a fragment, with the security headers; a flash note set by the last action is shown once."""
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:500]
    context.setdefault("session", getattr(request.state, "console_session", None))
    html = ENV.get_template(template).render(request=request, flash=flash, now=datetime.now(UTC), **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if flash and not template.startswith("_"):  # fragments (live refreshes) leave it for the page
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, to: str, flash: str = "") -> Response:
    """303 to a page of ours (after a form: the browser GETs it, and a reload does not post again)."""
    response = RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)
    if flash:
        set_cookie(response, request, FLASH_COOKIE, quote(flash[:500]), max_age=60)
    return response
