"""`xorb autonomy status|pause|resume`: the deployment's kill switch and its budgets (POST /v1/autonomy/...)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, call_api, error_text, fail, post_as_person

autonomy_app = typer.Typer(
    help="The kill switch: stop every new autonomous effect (and release open containments), or resume.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Reason = Annotated[str, typer.Option("--reason", "-m", help="Why; shown with every effect held meanwhile.")]
As = Annotated[
    str | None,
    typer.Option("--as", help="Who, when the API key is not bound to a person (default: your login name).",
                 show_default=False),
]  # fmt: skip
Role = Annotated[
    list[str] | None,
    typer.Option("--role", help="A role you hold (repeat for several; default: the roles of a person-bound key)."),
]


@autonomy_app.command("status")
def status(api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Whether autonomy is paused (by whom, since when, why) and each budget's use in its window."""
    code, data = call_api("GET", "/v1/autonomy", api_url=api_url, api_key=api_key)
    if code != 200:
        raise fail(error_text(data))
    typer.echo(_said(data["autonomy"]))
    for use in data.get("budgets", []):
        budget = use["budget"]
        what = (
            "all"
            if budget["scope"] == "all"
            else budget["name"]
            if budget["scope"] == "effect"
            else f"target:{budget['name']}"
        )
        typer.echo(f"  budget {what}: {use['used']} of {budget['limit']} in the window")
    if data.get("holds"):
        typer.echo(f"  {data['holds']} effect(s) held for a person lately")


@autonomy_app.command("pause")
def pause(
    reason: Reason = "",
    rollback: Annotated[bool, typer.Option("--rollback", help="Also release every open containment now.")] = False,
    name: As = None,
    role: Role = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Stop every new autonomous effect, everywhere: steps in flight finish, new ones wait for a person."""
    data = post_as_person("/v1/autonomy/pause", {"reason": reason, "rollback": rollback}, name, role, api_url, api_key)
    typer.echo(_said(data["autonomy"]))
    if rollback:
        released = data.get("released", [])
        typer.echo(f"released {len(released)} open containment(s)" + (": " + ", ".join(released) if released else ""))


@autonomy_app.command("resume")
def resume(
    reason: Reason = "",
    name: As = None,
    role: Role = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Let autonomous effects start again (a role of XORB_GUARDRAIL_APPROVERS)."""
    data = post_as_person("/v1/autonomy/resume", {"reason": reason}, name, role, api_url, api_key)
    typer.echo(_said(data["autonomy"]))


def _said(state: dict[str, Any]) -> str:
    if state["paused"]:
        why = f": {state['reason']}" if state.get("reason") else ""
        return f"autonomy PAUSED by {state['by']} at {state['at']}{why}"
    since = f" (resumed by {state['by']} at {state['at']})" if state.get("by") else ""
    return "autonomy on" + since
