"""GET /v1/playbooks, POST /v1/playbooks/validate, POST /v1/playbooks/dry-run."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from xorb_orchestrator.api.auth import require_api_key
from xorb_orchestrator.api.body import JSON_TYPES, parse_json, read_body, read_json
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import RETRY_AFTER_SECONDS, ApiError, field_errors
from xorb_orchestrator.api.json_input import json_problem
from xorb_orchestrator.api.openapi import errors, inline_defs, request_body
from xorb_orchestrator.config.api_keys import Person
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.playbook_run import MAX_DRY_RUN_LOOKUPS
from xorb_orchestrator.playbook import InputError, PlaybookInvalid, load_document
from xorb_orchestrator.playbook.catalog import MAX_FILE_BYTES, PlaybookCatalog
from xorb_orchestrator.services import playbook_runs
from xorb_orchestrator.services.playbook_client import DryRunTimeout
from xorb_orchestrator.sources.generic_alert import GenericAlert

router = APIRouter()
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
MAX_DRY_RUN_BYTES = 2 * MAX_FILE_BYTES  # a playbook and an alert
_PLAYBOOK = {"type": "object", "description": "a native or CACAO 2.0 playbook"}
_DRY_RUN = {
    "type": "object",
    "required": ["playbook", "alert"],
    "additionalProperties": False,
    "properties": {
        "playbook": {"anyOf": [_PLAYBOOK, {"type": "string", "description": "a catalog playbook's id"}]},
        "alert": inline_defs(GenericAlert.model_json_schema()),
        "inputs": {"type": "object", "description": "input name -> value"},
    },
}


async def _catalog(svc: Services) -> PlaybookCatalog:
    """The usable playbooks; a broken file is left out (GET /v1/playbooks lists its problems)."""
    return await asyncio.to_thread(playbook_runs.catalog, svc.settings, svc.actions)


@router.get("/playbooks", summary="The playbooks of the playbooks directory (XORB_PLAYBOOKS_DIR), and broken files")
async def list_playbooks(svc: Services = Depends(services)) -> dict[str, Any]:
    known = await _catalog(svc)
    problems = await asyncio.to_thread(playbook_runs.catalog_problems, svc.settings, svc.actions)
    items = [
        {
            "id": entry.playbook.id,
            "name": entry.playbook.name,
            "version": entry.playbook.version,
            "description": entry.playbook.description,
            "tags": list(entry.playbook.tags),
            "sha256": entry.sha256,
            "file": entry.path.name,
        }
        for entry in sorted(known.values(), key=lambda e: e.playbook.id)
    ]
    # The rest of the catalog serves; each problem names its file, step and field.
    return {"items": items, "problems": problems}


@router.post(
    "/playbooks/validate",
    summary="Check a playbook (native or CACAO 2.0; JSON, or YAML with a YAML content type)",
    responses={200: {"description": "{valid, errors: [\"step 'x' field 'y': ...\"]}"}, **errors(400, 413, 415)},
    openapi_extra=request_body(
        {
            # Any document: what is not a playbook is answered 200 {valid: false, errors} like any invalid one.
            "application/json": {"description": "a native or CACAO 2.0 playbook, or a catalog playbook's id"},
            "application/yaml": {"description": "the same, in YAML"},
        }
    ),
)
async def validate(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    media, raw = await read_body(
        request, MAX_FILE_BYTES, JSON_TYPES + YAML_TYPES, limit_name="the largest playbook file"
    )
    if media in YAML_TYPES:
        try:
            document = load_document(raw.decode("utf-8", errors="replace"), "yaml")
        except PlaybookInvalid as exc:
            return {"valid": False, "errors": [str(error) for error in exc.errors]}
    else:
        document = parse_json(raw)
        problem = json_problem(document)
        if problem is not None:
            return {"valid": False, "errors": [str(problem)]}
    found = playbook_runs.validation_errors(document, await _catalog(svc), svc.actions)
    return {"valid": not found, "errors": found}


@router.post(
    "/playbooks/dry-run",
    summary="Run a playbook dry on Temporal: the steps it would take, nothing changed",
    responses=errors(400, 404, 413, 415, 422, 503, 504),
    openapi_extra=request_body({"application/json": _DRY_RUN}),
)
async def dry_run(
    request: Request, svc: Services = Depends(services), person: Person | None = Depends(require_api_key)
) -> JSONResponse:
    """Steps marked `dry_run: call` really call (up to MAX_DRY_RUN_LOOKUPS) only for a person holding one of
    XORB_DRY_RUN_LOOKUP_ROLES; for anyone else every call is simulated. Bodies come back withheld either way."""
    may_look_up = person is not None and bool(svc.settings.dry_run_lookup_role_set & set(person.roles))
    body = await read_json(request, MAX_DRY_RUN_BYTES, limit_name="a playbook file and an alert")
    problem = json_problem(body)
    if problem is not None:
        raise _invalid(problem.path, problem.message)
    if not isinstance(body, dict) or "playbook" not in body or "alert" not in body:
        raise _invalid("body", "expected {playbook: <object or catalog id>, alert: <generic alert>, inputs: {...}}")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise _invalid("inputs", "expected an object of input values")
    unknown = sorted(set(body) - {"playbook", "alert", "inputs"})
    if unknown:
        raise _invalid(unknown[0], "unknown field (expected playbook, alert, inputs)")
    try:
        workflow_id, result = await playbook_runs.dry_run(
            svc.client,
            svc.settings,
            svc.actions,
            body["playbook"],
            body["alert"],
            inputs,
            lookups=MAX_DRY_RUN_LOOKUPS if may_look_up else 0,
        )
    except playbook_runs.UnknownPlaybook as exc:
        raise ApiError(404, "unknown_playbook", str(exc.args[0])) from None
    except PlaybookInvalid as exc:
        errors = [str(error) for error in exc.errors]
        message = f"the playbook is invalid: {errors[0]}" + (
            f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        )
        return JSONResponse({"error": "invalid_playbook", "message": message, "errors": errors}, status_code=422)
    except ValidationError as exc:
        fields = [{**f, "field": f"alert.{f['field']}"} for f in field_errors(exc)]
        raise ApiError(
            422, "invalid_alert", f"invalid {', '.join(f['field'] for f in fields)}", fields=fields
        ) from None
    except InputError as exc:
        raise _invalid("inputs", str(exc), code="invalid_inputs") from None
    except DryRunTimeout:
        raise ApiError(
            504, "timeout", f"the dry run did not finish within {playbook_runs.DRY_RUN_TIMEOUT:g}s"
        ) from None
    except TemporalUnavailable as exc:
        raise ApiError(503, "unavailable", str(exc), headers={"Retry-After": RETRY_AFTER_SECONDS}) from None
    report = result.model_dump(mode="json")
    report["workflow_id"] = workflow_id
    report["decisions"] = [{"step": step, "decision": decision} for step, decision in result.decisions()]
    return JSONResponse(report)


def _invalid(field: str, message: str, *, code: str = "invalid_request") -> ApiError:
    return ApiError(422, code, f"{field}: {message}", fields=[{"field": field, "message": message}])
