"""Issue 15's table for the README's performance section, filled from the benchmarks' results (bench/plot.py).

One function per benchmark turns its result into rows: figure | now | baseline in the same run | ratio | goal,
met or not | the command that repeats the run. The goals are the benchmarks' own constants, so the table and
their printed verdicts agree. `rewrite_readme` replaces only what lies between the README's markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest import COLLAPSE_TARGET_SECONDS, STORM_RATIO_TARGET, UNIQUE_RATIO_TARGET
from latency import P50_GOAL, P50_GOAL_AT_20, P99_GOAL
from memory import GOAL_MIB

from playbooks import GOALS as PLAYBOOK_GOALS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- perf:begin", "<!-- perf:end -->"
KINDS = ("ingest", "playbooks", "latency", "memory")
TIMES = "\u00d7"  # the README's ratio sign, spelled out: ruff flags the character as ambiguous


@dataclass
class Row:
    figure: str
    now: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: nothing measured to judge
    command: str


def command(script: str, flags: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The command that repeats a run: the flags whose value was not the default."""
    extra = "".join(
        f" --{k} {v:g}" if isinstance(v, float) else f" --{k} {v}" for k, v in flags.items() if v != defaults.get(k)
    )
    return f"`.venv/bin/python bench/{script}{extra}`"


def x(value: float) -> str:
    return f"{value:.2f}{TIMES}" if value < 10 else f"{value:.0f}{TIMES}"


# --- the rows, one function per benchmark ------------------------------------------------------------


def ingest_rows(r: dict[str, Any]) -> list[Row]:
    p, sc = r["parameters"], r["scenarios"]
    skip = " ".join(f"--skip {name}" for name in ("storm_batched", "unique") if name not in sc)
    flags = {
        "alerts": p["alerts"],
        "keys": p["keys"],
        "concurrency": p["concurrency"],
        "procs": p["generator_processes"],
    }
    cmd = command("ingest.py", flags, {"alerts": 10_000, "keys": 100, "concurrency": 32, "procs": 2})
    cmd = cmd[:-1] + f" {skip}`" if skip else cmd
    base = sc["baseline"]["alerts_per_second"]
    baseline = f"parse-only FastAPI endpoint {base:,.0f}/s"
    rows = []
    for name, label, target in (
        ("storm", f"intake, storm over {p['keys']} keys, one alert per request", STORM_RATIO_TARGET),
        ("unique", "intake, unique keys, one per request", UNIQUE_RATIO_TARGET),
    ):
        if name in sc:
            ratio = sc[name]["alerts_per_second"] / base
            now = f"{sc[name]['alerts_per_second']:,.0f} alerts/s"
            rows.append(Row(label, now, baseline, x(ratio), f"≥ {target}{TIMES}", ratio >= target, cmd))
    collapse = r["collapse"]["storm"]
    sending = p["alerts"] / sc["storm"]["alerts_per_second"]
    now = f"{collapse['seconds']:.1f} s (sending alone {sending:.1f} s)" if collapse["ok"] else "did not collapse"
    met = bool(collapse["ok"] and collapse["seconds"] <= COLLAPSE_TARGET_SECONDS)
    figure = f"{p['alerts']:,} alerts → {p['keys']} incidents, one per request"
    rows.append(Row(figure, now, "—", "—", f"≤ {COLLAPSE_TARGET_SECONDS:g} s", met, cmd))
    return rows


def playbooks_rows(r: dict[str, Any]) -> list[Row]:
    p, ph = r["parameters"], r["phases"]
    cap = p["max_parallel_workflows"]
    defaults = {"incidents": 200, "max-parallel": max(p["incidents"], p.get("warmup", 20))}
    cmd = command("playbooks.py", {"incidents": p["incidents"], "max-parallel": cap}, defaults)
    built_in = ph["built_in"]["incidents_per_s"]
    limiting = not isinstance(cap, int) or cap < p["incidents"]
    figure = f"incidents/s, built-in notify plan, cap {'limiting' if limiting else 'not limiting'}"
    figure += f" (MAX_PARALLEL_WORKFLOWS {cap}, {p['incidents']} incidents)"
    target = PLAYBOOK_GOALS["built_in_vs_bare"]
    if "bare" in r:
        bare = r["bare"]["per_s"]
        ratio = built_in / bare
        rows = [
            Row(
                figure,
                f"{built_in:.1f}/s",
                f"hand-written 3-activity workflow {bare:.1f}/s",
                x(ratio),
                f"≥ {target}{TIMES}",
                ratio >= target,
                cmd,
            )
        ]
    else:
        rows = [Row(figure, f"{built_in:.1f}/s", "not measured", "—", f"≥ {target}{TIMES}", None, cmd)]
    one, rich = ph["playbook"]["incidents_per_s"] / built_in, ph["playbook_rich"]["incidents_per_s"] / built_in
    goal_one, goal_rich = PLAYBOOK_GOALS["playbook_vs_built_in"], PLAYBOOK_GOALS["playbook_rich_vs_built_in"]
    now = f"{ph['playbook']['incidents_per_s']:.1f} / {ph['playbook_rich']['incidents_per_s']:.1f}/s"
    goal = f"≥ {goal_one}{TIMES} / ≥ {goal_rich}{TIMES}"
    met = one >= goal_one and rich >= goal_rich
    rows.append(
        Row(
            "one-step / nine-step playbook vs built-in plan",
            now,
            f"built-in plan {built_in:.1f}/s",
            f"{x(one)} / {x(rich)}",
            goal,
            met,
            cmd,
        )
    )
    return rows


def latency_rows(r: dict[str, Any]) -> list[Row]:
    p, ph = r["parameters"], r["phases"]
    flags = {"rates": ",".join(f"{rate:g}" for rate in p["rates"]), "seconds": float(p["seconds"])}
    cmd = command("latency.py", flags, {"rates": "5,20", "seconds": 20.0})
    rows = []
    if "service@5" in ph:
        s, b = ph["service@5"]["latency_ms"], ph["bare@5"]["latency_ms"]
        r50, r99 = s["p50"] / b["p50"], s["p99"] / b["p99"]
        now = f"p50 {s['p50']:,.0f} ms, p99 {s['p99']:,.0f} ms"
        base = f"bare start → first activity p50 {b['p50']:,.0f} ms, p99 {b['p99']:,.0f} ms"
        goal = f"≤ {P50_GOAL:g}{TIMES} / ≤ {P99_GOAL:g}{TIMES}"
        rows.append(
            Row(
                "alert → first action at 5 alerts/s",
                now,
                base,
                f"{x(r50)} / {x(r99)}",
                goal,
                r50 <= P50_GOAL and r99 <= P99_GOAL,
                cmd,
            )
        )
    if "service@20" in ph:
        s20, b20 = ph["service@20"], ph["bare@20"]["latency_ms"]
        r50 = s20["latency_ms"]["p50"] / b20["p50"]
        first, last = s20["first_quarter_p50_ms"] / 1000, s20["last_quarter_p50_ms"] / 1000
        kept = "keeps up" if s20["kept_up"] else f"falls behind: p50 {first:.1f} s → {last:.1f} s over the phase"
        now = f"p50 {s20['latency_ms']['p50']:,.0f} ms ({kept})"
        if "bare_capacity" in r:
            now += f"; bare capacity {r['bare_capacity']['per_s']:.1f} workflows/s"
        goal = f"keeps up; ≤ {P50_GOAL_AT_20:g}{TIMES} bare"
        met = s20["kept_up"] and r50 <= P50_GOAL_AT_20
        rows.append(
            Row("alert → first action at 20 alerts/s", now, f"bare p50 {b20['p50']:,.0f} ms", x(r50), goal, met, cmd)
        )
    return rows


def memory_rows(r: dict[str, Any]) -> list[Row]:
    p, rows_ = r["parameters"], r["rows"]
    cmd = command("memory.py", {"incidents": p["incidents"]}, {"incidents": 1000})
    xorb, temporal = rows_["xorb_api_worker"], rows_["temporal_server"]
    now = f"API+worker {xorb['open_mib']:.0f} MiB, Temporal {temporal['open_mib']:.0f} MiB"
    if r["goal"]["projected"]:
        now += f" ({p['incidents']:,} open; API+worker at 1,000 projected {r['goal']['value_mib']:.0f} MiB)"
    base = f"the same processes idle: {xorb['idle_mib']:.0f} / {temporal['idle_mib']:.0f} MiB"
    figure = f"RSS with {p['incidents']:,} open incidents"
    return [Row(figure, now, base, "—", f"API+worker ≤ {GOAL_MIB:g} MiB", r["goal"]["met"], cmd)]


ROWS = {"ingest": ingest_rows, "playbooks": playbooks_rows, "latency": latency_rows, "memory": memory_rows}


# --- the section ---------------------------------------------------------------------------------------------


def batched_note(r: dict[str, Any]) -> list[str]:
    """Not a row of the issue's table, but the path batching senders take: the same storm as NDJSON."""
    sc, collapse = r["scenarios"], r["collapse"].get("storm_batched", {})
    if "storm_batched" not in sc:
        return []
    rate, base = sc["storm_batched"]["alerts_per_second"], sc["baseline"]["alerts_per_second"]
    took = f", collapsed in {collapse['seconds']:.1f} s" if collapse.get("ok") else ""
    return [
        "",
        f"The same storm sent as NDJSON, {r['parameters']['batch']} alerts a request (what `xorb alerts follow` and "
        "`send` do):",
        f"{rate:,.0f} alerts/s, {x(rate / base)} the baseline{took}.",
    ]


def set_by_run(r: dict[str, Any], parameter: str) -> int | None:
    """A setting the run chose itself (`--max-cached`, `--max-parallel`), or None where xorb's default held: the
    benchmarks record a number for the one and a "default (…)" text for the other."""
    value = str(r.get("parameters", {}).get(parameter, "default"))
    return int(value) if value.isdigit() else None


def cache_note(memory_runs: list[dict[str, Any]]) -> list[str]:
    """Memory with a smaller workflow cache than xorb's default (`memory.py --max-cached N`): newest run per size."""
    by_size: dict[int, dict[str, Any]] = {}
    for r in memory_runs:  # oldest first: a newer run of a size replaces an older one
        size = set_by_run(r, "max_cached_workflows")
        if size is not None:
            by_size[size] = r
    if not by_size:
        return []
    parts = []
    for size, r in sorted(by_size.items(), reverse=True):
        verdict = "met" if r["goal"]["met"] else "not met"
        open_mib = r["rows"]["xorb_api_worker"]["open_mib"]
        parts.append(f"at {size}, API+worker {open_mib:.0f} MiB with {r['parameters']['incidents']:,} open ({verdict})")
    return [
        "",
        "With a smaller workflow cache (`XORB_MAX_CACHED_WORKFLOWS`, `bench/memory.py --max-cached N`): "
        f"{'; '.join(parts)}. Not the default: an evicted incident replays its history at its next event.",
    ]


def section(
    found: dict[str, tuple[Path, dict[str, Any]]], plots: dict[str, Path], notes: list[str] | None = None
) -> str:
    lines = [
        "Issue 15's figures, each against a baseline measured in the same run on the same machine. The table and the",
        "plots are written by `.venv/bin/python bench/plot.py` from the newest result of each benchmark in",
        "`bench/results/`; what each benchmark does and what each number means is in `bench/README.md`.",
        "",
        "| figure | now | baseline in the same run | ratio | goal | reproduce |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        if kind not in found:
            continue
        for row in ROWS[kind](found[kind][1]):
            verdict = {True: "met", False: "**not met**", None: "not measured"}[row.met]
            lines.append(
                f"| {row.figure} | {row.now} | {row.baseline} | {row.ratio} | {row.goal}: {verdict} | {row.command} |"
            )
    lines += batched_note(found["ingest"][1]) if "ingest" in found else []
    lines += notes or []
    lines += ["", "Runs (UTC, load average at the start; 1-minute, 5, 15):", ""]
    for kind in KINDS:
        if kind in found:
            path, data = found[kind]
            machine = data.get("machine", {})
            load = ", ".join(f"{v:g}" for v in machine.get("load_average") or [])
            rel = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
            commit = (machine.get("source_revision") or "unknown")[:7]
            lines.append(
                f"- {kind}: [{path.stem}]({rel}), commit {commit}, {machine.get('cores')} cores, load average {load}"
            )
    lines += [
        "",
        "These ran on a 2-core virtual machine shared with other work (the load averages above): rates and latencies",
        "move by tens of percent between runs of the same code; the ratios, service and baseline measured minutes",
        "apart in the same run, are what to compare.",
        "",
    ]
    lines += [f"![{kind}]({plots[kind].relative_to(ROOT)})" for kind in KINDS if kind in plots]
    return "\n".join(lines) + "\n"


def rewrite_readme(text: str) -> None:
    """Replace what lies between the markers, from a fresh read, so edits elsewhere in the file are kept."""
    current = README.read_text()
    start = current.find(BEGIN)
    end = current.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{README}: the markers {BEGIN} ... {END} were not found in this order")
    start = current.index("\n", start) + 1  # the begin marker's own line stays as it is
    README.write_text(current[:start] + text + current[end:])
