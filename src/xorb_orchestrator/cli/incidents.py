"""`xorb incidents approvals` (what waits for people) and `xorb incidents approve|deny INCIDENT STEP` (decide one),
through the API.

Who you are (docs/approvals.md): with a person-bound API key the API knows your name and roles, so `--as` and
`--role` are not needed (`--as` may repeat the key's name, `--role` may narrow its roles; anything else is
refused). With a service key the API takes the name and roles from the X-Xorb-Approver / X-Xorb-Roles headers
this command sends (`--as`, default your login name; `--role`), as long as the server runs with
XORB_APPROVER_HEADERS=trust. A step that asks for values (its `outputs`) is approved with `--output name=value`,
once per name.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer
from pydantic import TypeAdapter, ValidationError

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, call_api, error_text, fail, post_as_person
from xorb_orchestrator.models.approvals import ApprovalOutputs
from xorb_orchestrator.services.plan_explanation import decision_lines, observable_lines

incidents_app = typer.Typer(
    help="Incidents: list, show and watch them; the approvals waiting for people; approve or deny one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _decide(
    approve: bool, incident: str, step: str, comment: str, name: str | None, roles: list[str] | None,
    iteration: int | None, api_url: str | None, api_key: str | None, outputs: dict[str, str] | None = None,
) -> None:  # fmt: skip
    body: dict[str, object] = {"step": step, "approve": approve, "comment": comment, "iteration": iteration}
    if outputs:
        body["outputs"] = outputs
    data = post_as_person(f"/v1/incidents/{incident}/approvals", body, name, roles, api_url, api_key)
    verb = "approved" if approve else "denied"
    typer.echo(
        f"{data['approver']} {verb} step {step!r} of {incident}: {data['outcome']} "
        f"({data['approvals']} of {data['required']} approvals)"
    )


Comment = Annotated[str, typer.Option("--comment", "-m", help="Why; recorded with the vote.")]
As = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who decides, when the API key is not bound to a person (default: your login name).",
        show_default=False,
    ),
]
Role = Annotated[
    list[str] | None,
    typer.Option("--role", help="A role you hold (repeat for several; default: the roles of a person-bound key)."),
]
Iteration = Annotated[int | None, typer.Option(help="The for_each item, when the step waits in several.")]
Output = Annotated[
    list[str] | None,
    typer.Option(
        "--output",
        help="A value the step asks for, as name=value (repeat for each; `xorb incidents approvals` lists them).",
        show_default=False,
    ),
]


_OUTPUTS: TypeAdapter[dict[str, str]] = TypeAdapter(ApprovalOutputs)


def parse_outputs(given: list[str] | None) -> dict[str, str]:
    """`--output name=value` options as {name: value}; bad syntax or a name given twice fails with one line."""
    outputs: dict[str, str] = {}
    for item in given or []:
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise fail(f"--output: expected name=value (e.g. --output ticket=INC-42), got {item!r}", 2)
        if name in outputs:
            raise fail(f"--output: {name!r} is given twice", 2)
        outputs[name] = value
    try:  # the API's bounds (names, lengths, bytes), said here in one line rather than as "invalid outputs"
        return _OUTPUTS.validate_python(outputs)
    except ValidationError as exc:
        raise fail("--output: " + str(exc.errors()[0]["msg"]).removeprefix("Value error, "), 2) from None


@incidents_app.command("approve")
def approve(
    incident: Annotated[str, typer.Argument(help="The incident id.")],
    step: Annotated[str, typer.Argument(help="The approval step's id.")],
    comment: Comment = "",
    name: As = None,
    role: Role = None,
    iteration: Iteration = None,
    output: Output = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Approve a step waiting for approval (GET /v1/approvals lists them), giving the values it asks for."""
    outputs = parse_outputs(output)
    _decide(True, incident, step, comment, name, role, iteration, api_url, api_key, outputs)


@incidents_app.command("deny")
def deny(
    incident: Annotated[str, typer.Argument(help="The incident id.")],
    step: Annotated[str, typer.Argument(help="The approval step's id.")],
    comment: Comment = "",
    name: As = None,
    role: Role = None,
    iteration: Iteration = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Deny a step waiting for approval: the playbook takes its deny path."""
    _decide(False, incident, step, comment, name, role, iteration, api_url, api_key)


@incidents_app.command("approvals")
def approvals(api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """List the approvals waiting for people (GET /v1/approvals), oldest deadline first."""
    status, data = call_api("GET", "/v1/approvals", api_url=api_url, api_key=api_key)
    if status != 200:
        raise fail(error_text(data))
    items = data.get("items", [])
    if not items:
        typer.echo("no approval is waiting")
    for item in items:
        who = [*(f"role {r}" for r in item["approvers"]["roles"]), *item["approvers"]["people"]]
        loop = f" [item {item['iteration']}]" if item.get("iteration") is not None else ""
        round_ = f", escalation {item['round']}" if item.get("round") else ""
        typer.echo(
            f"{item['incident_id']}  {item['step_id']}{loop}  ({item['playbook_id']})  "
            f"{item['received']} of {item['required']} from {', '.join(who)}{round_}; deadline {item['deadline']}"
        )
        if item.get("message"):
            typer.echo(f"    {item['message']}")
        for shown in item.get("requests", []):
            typer.echo(f"    approving sends ({shown['step_id']}): {shown['action']} {_request_text(shown['args'])}")
        if item.get("outputs"):
            typer.echo(f"    approve with: {' '.join(f'--output {name}=...' for name in item['outputs'])}")
    for workflow_id in data.get("unanswered_runs", []):
        typer.echo(f"{workflow_id}: no worker answered; its approvals are not shown (is a worker running?)")


def _request_text(args: dict[str, Any]) -> str:
    """A gated request in one line: `POST <url>` first for an HTTP call, then the other arguments as JSON."""
    rest = dict(args)
    head = " ".join(str(rest.pop(key)) for key in ("method", "url") if key in rest)
    tail = json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else ""
    return " ".join(part for part in (head, tail) if part)


@incidents_app.command("show")
def show(
    incident: Annotated[str, typer.Argument(help="The incident's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """One incident: its status, observables with their verdicts and asset context, the plan and why, the
    response's steps and its containment."""
    status, data = call_api("GET", f"/v1/incidents/{quote(incident, safe='')}", api_url=api_url, api_key=api_key)
    if status != 200:
        raise fail(error_text(data))
    if as_json:
        typer.echo(json.dumps(data))
        return
    typer.echo(f"{data['incident_id']}  {data['status']}  [{data['severity']}] {data['title']}")
    typer.echo(
        f"  {data['alert_count']} alert(s) from {data['source']}, first {data['first_seen']}, last {data['last_seen']}"
    )
    for line in observable_lines(data.get("enrichment")):
        typer.echo(line)
    if data.get("plan"):
        for line in decision_lines(data["plan"]):
            typer.echo(line)
    run = data.get("playbook_run")
    steps = run["steps"] if run else data.get("steps", [])
    if run:
        typer.echo(f"run: {run['playbook_id']} {run['status']}" + (f": {run['error']}" if run.get("error") else ""))
    for step in steps:
        error = f": {step['error']}" if step.get("error") else ""
        typer.echo(f"  step {step['id']}: {step['status']}{error}")
    for effect in data.get("effects", []):
        typer.echo(effect_line(effect))
    containment = data.get("containment")
    if containment:
        typer.echo(f"containment until {containment['until']} {containment['reason']} ({containment['status']})")
    if data.get("error"):
        typer.echo(f"error: {data['error']}")


def effect_line(effect: dict[str, Any]) -> str:
    """`effect <step>: <done> [<handle>] via <connection>; until <t>; verified/NOT verified; undo <action> (<s>)`."""
    receipt = effect["receipt"]
    parts = [f"effect {effect['step_id']}: {receipt['done']}"]
    if receipt.get("handle"):
        parts[0] += f" [{receipt['handle']}]"
    parts[0] += f" via {receipt['tool']} {receipt['connection']}" + (" (found in place)" if receipt["repeated"] else "")
    if receipt.get("expires_at"):
        parts.append(f"until {receipt['expires_at']}")
    verified = receipt.get("verified")
    if verified:
        parts.append(("verified: " if verified["ok"] else "NOT verified: ") + (verified["detail"] or verified["how"]))
    undo = receipt.get("undo")
    if undo:
        parts.append(f"undo {undo['action']}" + (f" ({effect['undo_status']})" if effect.get("undo_status") else ""))
    return "  " + "; ".join(parts)
