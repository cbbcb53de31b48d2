"""What a bench/chaos.py run found: the table, the problems (exit 1), the warnings and notes, and the evidence."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_send import Good, Poison
from chaos_tool import RecordingTool

BENCH_DIR = Path(__file__).resolve().parent
FINISHED = ("completed", "closed", "failed")


@dataclass
class Late:
    """Re-deliveries of alerts whose incidents had closed, sent after a Redis FLUSHALL (a shipper replaying)."""

    alerts: list[Good] = field(default_factory=list)
    at: float | None = None  # time.monotonic() when they were sent
    known: set[str] = field(default_factory=set)  # their incidents before they were sent again
    answered_duplicate: int = 0


@dataclass
class Outcome:
    views: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # incident id -> final view (None: 404)
    unreadable: dict[str, str] = field(default_factory=dict)  # incident id -> why the last read failed
    runs: dict[str, int] = field(default_factory=dict)  # incident id -> workflow runs (from Temporal)


def _reason(view: dict[str, Any]) -> str:
    errors = [view.get("error")] + [step.get("error") for step in view.get("steps") or []]
    text = next((e for e in errors if e), "no reason given")
    text = re.sub(r"incident-[0-9a-f]{8,}", "incident-…", str(text))
    return re.sub(r"\s+", " ", text)[:160]


def analyse(
    tool_modes: tuple[str, ...],
    goods: list[Good],
    poison: list[Poison],
    outcome: Outcome,
    tool: RecordingTool,
    late: Late,
    t0: float,
) -> tuple[dict[str, Any], list[str], list[str], dict[str, Any]]:
    """The table, the problems (exit 1), the warnings, and the details behind them."""
    problems: list[str] = []
    warnings: list[str] = []
    accepted = [g for g in goods if g.accepted]
    mode_of = {i: g.mode for g in accepted for i in g.incident_ids if i}
    mode_of |= {i: "poison" for p in poison for i in p.incident_ids if i}
    lost: list[dict[str, Any]] = []
    over: list[dict[str, Any]] = []
    stuck: list[dict[str, Any]] = []
    for good in accepted:
        for incident_id in good.incident_ids:
            view = outcome.views.get(incident_id) if incident_id else None
            if not incident_id or (view is None and incident_id not in outcome.unreadable):
                lost.append({"alert": good.alert_id, "incident": incident_id or None, "why": "no such incident"})
            elif view is not None and int(view.get("alert_count") or 0) < 1 and not view.get("redelivery_of"):
                # (a run holding only re-deliveries counts them as duplicates of the incident in redelivery_of)
                lost.append({"alert": good.alert_id, "incident": incident_id, "why": "incident counts no alert"})
            elif view is not None and int(view.get("alert_count") or 0) > 1:
                over.append({"alert": good.alert_id, "incident": incident_id, "alert_count": view["alert_count"]})
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    unexpected_failures, details = [], []
    for incident_id, mode in sorted(mode_of.items()):
        view = outcome.views.get(incident_id)
        if view is None:
            if incident_id in outcome.unreadable:
                stuck.append({"incident": incident_id, "status": "unreadable", "why": outcome.unreadable[incident_id]})
            continue
        status = str(view.get("status"))
        statuses[status] += 1
        if status not in FINISHED:
            stuck.append({"incident": incident_id, "mode": mode, "status": status, "steps": view.get("steps")})
        elif status == "failed":
            reasons[_reason(view)] += 1
            steps = [{k: step.get(k) for k in ("id", "status", "attempts", "started_at", "ended_at")}
                     for step in view.get("steps") or []]  # fmt: skip
            item = {"incident": incident_id, "mode": mode, "reason": _reason(view), "steps": steps}
            details.append(item)
            if mode in ("ok", "poison"):
                unexpected_failures.append(item)
    calls, effects = tool.snapshot()
    effect_calls = [c for c in calls if c.effect]
    per_incident = Counter(c.incident_id for c in effect_calls)
    # An effect twice: two for one incident (key), one without a key, or one alert answered in two incidents.
    twice = {str(i): n for i, n in per_incident.items() if n > 1}
    for good in accepted:
        answered = [i for i in good.incident_ids if per_incident.get(i)]
        if len(answered) > 1:
            twice[good.alert_id] = len(answered)
    duplicate_effects = sum(n - 1 for n in twice.values()) + sum(1 for c in effect_calls if not c.key)
    stray = sorted({str(c.incident_id) for c in effect_calls if c.incident_id not in mode_of})
    missing = sorted(
        i for i, m in mode_of.items() if (outcome.views.get(i) or {}).get("status") in ("completed", "closed")
        and not per_incident.get(i)
    )  # fmt: skip
    first_effect: dict[str | None, float] = {c.key: c.at for c in effect_calls if c.key}
    repeated = [
        {"key": c.key, "effect_t": round(first_effect.get(c.key, t0) - t0, 2), "repeat_t": round(c.at - t0, 2),
         "late_redelivery": late.at is not None and c.at >= late.at}
        for c in calls if c.repeated
    ]  # fmt: skip
    late_ids = {i for g in late.alerts for i in g.incident_ids if i}
    rerun = sorted(
        {str(c.incident_id) for c in calls if late.at is not None and c.at >= late.at and c.incident_id in late_ids}
    )
    # Runs beyond the first, outside the late re-deliveries (which are expected to start one).
    # A later run that holds only re-deliveries (redelivery_of) did not answer again: not counted.
    rerun_during = {
        i: n
        for i, n in outcome.runs.items()
        if n > 1 and i in mode_of and i not in late_ids and not (outcome.views.get(i) or {}).get("redelivery_of")
    }
    recognised = sum(
        1 for g in late.alerts if all((outcome.views.get(i) or {}).get("redelivery_of") for i in g.incident_ids if i)
    )
    wrong_poison = [p for p in poison if p.must_refuse and p.accepted]
    tolerated = [p for p in poison if not p.must_refuse and p.accepted]
    refused = [p for p in poison if p.refusals and not p.accepted]
    modes = {
        mode: {
            "incidents": sum(1 for m in mode_of.values() if m == mode),
            "statuses": dict(Counter(str((outcome.views.get(i) or {}).get("status")) for i, m in mode_of.items()
                                     if m == mode)),
            "calls": sum(1 for c in calls if c.mode == mode),
        }
        for mode in ("ok", *tool_modes)
    }  # fmt: skip
    for mode in tool_modes:
        completed = [i for i, m in mode_of.items() if m == mode and (outcome.views.get(i) or {}).get("status")
                     in ("completed", "closed")]  # fmt: skip
        if completed:
            warnings.append(f"{len(completed)} incidents completed although the tool answered them {mode}")
    table = {
        "accepted_alerts": len(accepted),
        "duplicate_deliveries_sent": None,  # filled in by run()
        "incidents_completed_closed": statuses["completed"] + statuses["closed"],
        "failed": statuses["failed"],
        "failed_reasons": dict(reasons.most_common()),
        "stuck": len(stuck),
        "lost": len(lost),
        "over_counted": len(over),
        "tool_calls": len(calls),
        "repeated_calls": sum(1 for c in calls if c.repeated),
        "incidents_run_twice": len(rerun_during),
        "distinct_effects": len(effects),
        "duplicate_effects": duplicate_effects,
        "effects_of_unknown_incidents": len(stray),
        "completed_without_effect": len(missing),
        "poison_lines_refused": len(refused),
        "poison_lines_wrongly_accepted": len(wrong_poison),
        "late_redeliveries": len(late.alerts),
        "late_answered_duplicate": late.answered_duplicate,
        "late_recognised_by_incident": recognised,
        "late_responses_run_again": len(rerun),
    }
    if lost:
        problems.append(f"LOST: {len(lost)} accepted alerts, e.g. {lost[:3]}")
    if stuck:
        problems.append(f"STUCK: {len(stuck)} incidents not finished by the deadline, e.g. {stuck[:3]}")
    if duplicate_effects:
        problems.append(f"DUPLICATE EFFECTS: {duplicate_effects} (incidents or alerts with more than one: {twice})")
    if stray:
        problems.append(f"EFFECTS OF UNKNOWN INCIDENTS: {len(stray)}, e.g. {stray[:3]}")
    if missing:
        problems.append(f"COMPLETED WITHOUT EFFECT: {len(missing)} incidents, e.g. {missing[:3]}")
    if over:
        problems.append(f"OVER-COUNTED: {len(over)} incidents count a re-delivery as a new alert, e.g. {over[:3]}")
    if wrong_poison:
        problems.append(
            f"POISON ACCEPTED: {len(wrong_poison)} lines, kinds {sorted({p.kind for p in wrong_poison})}, "
            f"incidents {sorted(i for p in wrong_poison for i in p.incident_ids)[:3]}"
        )
    good_refused = [(g.alert_id, g.refusals[0]) for g in goods if g.refusals]
    if good_refused:
        problems.append(f"GOOD ALERTS REFUSED: {len(good_refused)}, e.g. {good_refused[:3]}")
    never = [(g.alert_id, g.gave_up[0]) for g in goods if not g.accepted and g.gave_up]
    if never:
        warnings.append(f"{len(never)} alerts never accepted despite retries: {never[:3]}")
    if unexpected_failures:
        warnings.append(f"{len(unexpected_failures)} incidents failed without a tool fault: {unexpected_failures[:3]}")
    notes = [
        f"poison {p.kind} ({p.via}) was accepted (valid JSON and Unicode), then followed like any alert: "
        f"incident {', '.join(sorted(p.incident_ids))}: {(outcome.views.get(min(p.incident_ids)) or {}).get('status')}"
        for p in tolerated
    ]
    # Since incidents ask the earlier ones of their key, a re-delivery never answers twice: each is a problem.
    if rerun_during:
        problems.append(
            f"{len(rerun_during)} incidents ran more than once during the faults (a delivery of their alert reached "
            "Temporal after the incident had closed, and started a new run of the same id: the response ran again "
            f"with the same Idempotency-Key): {dict(list(rerun_during.items())[:5])}"
        )
    if rerun:
        same = [i for i in rerun if i in late.known]
        problems.append(
            f"{len(rerun)} of {len(late.alerts)} late re-deliveries (an alert sent again with its own id after its "
            f"incident closed and Redis was flushed) ran a response again: {len(same)} re-ran the closed incident "
            "(same Idempotency-Key: the tool dropped it, a receiver ignoring the key would notify twice), "
            f"{len(rerun) - len(same)} opened a new incident (a second effect): {rerun[:3]}"
        )
    for p in poison:
        if not p.accepted and not p.refusals:
            warnings.append(f"poison {p.kind} ({p.via}) got no final answer: {p.gave_up[:1]}")
    extra = {
        "modes": modes,
        "failed": details,
        "lost": lost,
        "stuck": stuck,
        "over_counted": over,
        "effects_of_unknown_incidents": stray,
        "completed_without_effect": missing,
        "repeated_calls": repeated,
        "incidents_run_twice": rerun_during,
        "duplicate_effects": twice,
        "late_redeliveries": {"incidents": sorted(late_ids), "responses_run_again": rerun},
        "notes": notes,
        "poison": [
            {"kind": p.kind, "via": p.via, "must_refuse": p.must_refuse, "refusals": sorted(set(p.refusals))[:2],
             "incidents": sorted(p.incident_ids)}
            for p in poison
        ],
    }  # fmt: skip
    return table, problems, warnings, extra


def summarize_exits(exits: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Exits we did not cause, grouped. A process started while Temporal was down exits 1 at once, as documented
    (README: unreachable at start-up means exit 1): a note. Anything else is a warning."""
    groups: dict[tuple[str, Any, bool], list[dict[str, Any]]] = {}
    for e in exits:
        documented = not e["temporal_up"] and "cannot reach Temporal" in e["log"]
        groups.setdefault((e["process"], e["code"], documented), []).append(e)
    notes, warnings = [], []
    for (process, code, documented), items in groups.items():
        when = ", ".join(f"{e['t']}" for e in items[:12])
        line = f"{process} exited on its own with code {code} {len(items)}x (t = {when} s), restarted each time"
        if documented:
            notes.append(f"{line}: started while Temporal was down (exit 1 at start-up is documented)")
        else:
            warnings.append(f"{line}; last log lines: {items[-1]['log'][-400:]}")
    return notes, warnings


def machine_info() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "commit": commit.stdout.strip() or None,
    }


ROWS = (
    ("accepted alerts (distinct)", "accepted_alerts"),
    ("duplicate deliveries sent", "duplicate_deliveries_sent"),
    ("incidents completed/closed", "incidents_completed_closed"),
    ("failed", "failed"),
    ("stuck", "stuck"),
    ("lost", "lost"),
    ("over-counted", "over_counted"),
    ("tool calls", "tool_calls"),
    ("repeated calls (same key)", "repeated_calls"),
    ("incidents run more than once", "incidents_run_twice"),
    ("distinct effects", "distinct_effects"),
    ("duplicate effects", "duplicate_effects"),
    ("effects of unknown incidents", "effects_of_unknown_incidents"),
    ("completed without effect", "completed_without_effect"),
    ("poison lines refused", "poison_lines_refused"),
    ("poison lines wrongly accepted", "poison_lines_wrongly_accepted"),
    ("late re-deliveries (after close+flush)", "late_redeliveries"),
    ("  answered as duplicates", "late_answered_duplicate"),
    ("  recognised by the incident", "late_recognised_by_incident"),
    ("  responses run again", "late_responses_run_again"),
)


def render(result: dict[str, Any]) -> str:
    table, params = result.get("table") or {}, result.get("parameters") or {}
    lines = [
        f"chaos run {result['started_at']} (seed {result['seed']}): {params.get('incidents')} incidents "
        f"+ {params.get('tool_incidents')} per tool mode {params.get('tool_modes')}, {params.get('kills')} worker "
        f"kills, {params.get('temporal_restarts')} Temporal restarts, Redis down {params.get('redis_down')} s "
        f"+ {params.get('redis_flushes')} flushes, over {params.get('duration')} s",
    ]
    width = max(len(label) for label, _ in ROWS)
    for label, key in ROWS:
        lines.append(f"  {label:<{width}}  {table.get(key)}")
        if key == "failed":
            lines += [f"  {'':<{width}}    {n} x {reason}" for reason, n in (table.get("failed_reasons") or {}).items()]
    timings = result.get("timings", {})
    lines.append(f"  {'timings (s)':<{width}}  {timings}")
    lines += [f"note: {n}" for n in result.get("notes", [])]
    lines += [f"warning: {w}" for w in result.get("warnings", [])]
    lines += [f"PROBLEM: {p}" for p in result.get("problems", [])]
    if result.get("work_dir_kept"):
        lines.append(f"logs kept in {result['work_dir']}")
    lines.append(f"wrote {result.get('result_file')}")
    return "\n".join(lines)
