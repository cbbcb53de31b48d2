"""Plots and the README's performance table from the benchmarks' results.

    .venv/bin/python bench/plot.py [bench/results/<kind>-<stamp>.json ...]

Reads the newest result of each benchmark (ingest, playbooks, latency, memory) in bench/results/, or the files
named (each replaces the newest of its kind), writes docs/performance/<kind>.png (service against the baseline
of the same run, issue 15's goal marked) and rewrites the README's section between `<!-- perf:begin` and
`<!-- perf:end -->` (nothing else of the README): issue 15's table, filled from the results by
bench/perf_table.py, and the plots.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ingest import COLLAPSE_TARGET_SECONDS, RESULTS_DIR, STORM_RATIO_TARGET, UNIQUE_RATIO_TARGET
from latency import P50_GOAL, P50_GOAL_AT_20, P99_GOAL
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from memory import GOAL_MIB
from perf_table import KINDS, README, ROOT, TIMES, cache_note, rewrite_readme, section, set_by_run

from playbooks import GOALS as PLAYBOOK_GOALS

DOCS = ROOT / "docs" / "performance"
SERVICE, BASELINE, GOAL = "#1f77b4", "#a0a0a0", "#d62728"


def load(files: list[Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The newest result of each kind run with xorb's defaults, or the files given (each for its own kind)."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for kind in KINDS:
        for path in sorted(RESULTS_DIR.glob(f"{kind}-*.json"), reverse=True):  # UTC stamps sort in time order
            data = json.loads(path.read_text())
            if _with_defaults(data):
                found[kind] = (path, data)
                break
    for path in files:
        data = json.loads(path.read_text())
        if data.get("benchmark") not in KINDS:
            raise SystemExit(f"{path}: not a result of {', '.join(KINDS)}")
        found[data["benchmark"]] = (path, data)
    return found


def _with_defaults(data: dict[str, Any]) -> bool:
    """Whether a run used xorb's own workflow cache, and for latency its own cap (playbooks and memory lift the cap
    on purpose): the table shows what a new user gets."""
    if set_by_run(data, "max_cached_workflows") is not None:
        return False
    return data.get("benchmark") != "latency" or set_by_run(data, "max_parallel_workflows") is None


# --- the plots ------------------------------------------------------------------------------------------------


def bars(ax: Axes, labels: list[str], values: list[float], colors: list[str], unit: str, fmt: str = "{:,.0f}") -> None:
    spots = ax.bar(labels, values, color=colors, width=0.6)
    ax.bar_label(spots, [fmt.format(v) for v in values], fontsize=8, padding=2)
    ax.set_ylabel(unit)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)


def goal_mark(ax: Axes, index: float, level: float, text: str, half: float = 0.4) -> None:
    """A dashed segment over the bar at `index` (`half` its width) at the goal's level."""
    ax.hlines(level, index - half, index + half, colors=GOAL, linestyles="dashed", linewidth=1.5)
    # At the segment's right end, on white: readable over a neighbouring bar and clear of the value labels.
    ax.annotate(
        text,
        (index + half, level),
        xytext=(2, 0),
        textcoords="offset points",
        fontsize=7,
        color=GOAL,
        va="center",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5},
    )


def plot_ingest(r: dict[str, Any], fig: Figure) -> None:
    sc, collapse = r["scenarios"], r["collapse"]
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.3]})
    names = [n for n in ("baseline", "storm", "storm_batched", "unique") if n in sc]
    labels = {
        "baseline": "baseline\n(parse only)",
        "storm": "storm\n1/request",
        "storm_batched": "storm\nNDJSON",
        "unique": "unique\n1/request",
    }
    values = [sc[n]["alerts_per_second"] for n in names]
    bars(
        left, [labels[n] for n in names], values, [BASELINE if n == "baseline" else SERVICE for n in names], "alerts/s"
    )
    base = sc["baseline"]["alerts_per_second"]
    for name, target in (("storm", STORM_RATIO_TARGET), ("unique", UNIQUE_RATIO_TARGET)):
        if name in names:
            goal_mark(left, names.index(name), target * base, f"{target}{TIMES}")
    left.set_title("intake", fontsize=9)
    done = [n for n in ("storm", "storm_batched") if collapse.get(n, {}).get("ok")]
    bars(
        right,
        [labels[n] for n in done],
        [collapse[n]["seconds"] for n in done],
        [SERVICE] * len(done),
        "seconds",
        "{:.1f}",
    )
    right.axhline(COLLAPSE_TARGET_SECONDS, color=GOAL, linestyle="dashed", linewidth=1.5)
    right.annotate(
        f"{COLLAPSE_TARGET_SECONDS:g} s",
        (0.99, COLLAPSE_TARGET_SECONDS),
        xycoords=("axes fraction", "data"),
        xytext=(0, 2),
        textcoords="offset points",
        fontsize=7,
        color=GOAL,
        ha="right",
    )
    right.set_title(f"{r['parameters']['alerts']:,} alerts → {r['parameters']['keys']} incidents", fontsize=9)


def plot_playbooks(r: dict[str, Any], fig: Figure) -> None:
    ph = r["phases"]
    ax = fig.subplots()
    labels, values, colors = [], [], []
    if "bare" in r:
        labels, values, colors = ["bare 3-activity\nworkflow"], [r["bare"]["per_s"]], [BASELINE]
    labels += ["built-in plan", "one-step\nplaybook", "nine-step\nplaybook"]
    values += [ph[n]["incidents_per_s"] for n in ("built_in", "playbook", "playbook_rich")]
    colors += [SERVICE] * 3
    bars(ax, labels, values, colors, "incidents (workflows)/s", "{:.1f}")
    first = 1 if "bare" in r else 0
    built_in = ph["built_in"]["incidents_per_s"]
    if "bare" in r:
        goal_mark(
            ax,
            first,
            PLAYBOOK_GOALS["built_in_vs_bare"] * r["bare"]["per_s"],
            f"{PLAYBOOK_GOALS['built_in_vs_bare']}{TIMES}",
        )
    for offset, goal in ((1, "playbook_vs_built_in"), (2, "playbook_rich_vs_built_in")):
        share = PLAYBOOK_GOALS[goal]
        goal_mark(ax, first + offset, share * built_in, f"{share}{TIMES}")
    p = r["parameters"]
    ax.set_title(
        f"{p['incidents']} incidents at once, MAX_PARALLEL_WORKFLOWS {p['max_parallel_workflows']}", fontsize=9
    )


def plot_latency(r: dict[str, Any], fig: Figure) -> None:
    rates = [rate for rate in (5, 20) if f"service@{rate}" in r["phases"]]
    axes = fig.subplots(1, len(rates), squeeze=False)[0]
    for ax, rate in zip(axes, rates, strict=True):
        s, b = r["phases"][f"service@{rate}"]["latency_ms"], r["phases"][f"bare@{rate}"]["latency_ms"]
        labels = ["service\np50", "bare\np50", "service\np99", "bare\np99"]
        bars(ax, labels, [s["p50"], b["p50"], s["p99"], b["p99"]], [SERVICE, BASELINE] * 2, "ms (log scale)")
        ax.set_yscale("log")
        ax.set_ylim(top=max(s["p99"], b["p99"]) * 4)
        if rate == 5:
            goal_mark(ax, 0, P50_GOAL * b["p50"], f"{P50_GOAL:g}{TIMES}")
            goal_mark(ax, 2, P99_GOAL * b["p99"], f"{P99_GOAL:g}{TIMES}")
        else:
            goal_mark(ax, 0, P50_GOAL_AT_20 * b["p50"], f"{P50_GOAL_AT_20:g}{TIMES}")
        ax.set_title(f"alert → first action at {rate}/s", fontsize=9)


def plot_memory(r: dict[str, Any], fig: Figure) -> None:
    ax = fig.subplots()
    names = {"xorb_api_worker": "API + worker", "temporal_server": "Temporal", "redis_server": "Redis"}
    rows = r["rows"]
    idle = [rows[n]["idle_mib"] for n in names]
    open_ = [rows[n]["open_mib"] for n in names]
    spots = range(len(names))
    for offset, values, color, label in (
        (-0.2, idle, BASELINE, "idle"),
        (0.2, open_, SERVICE, f"{r['parameters']['incidents']:,} open"),
    ):
        drawn = ax.bar([i + offset for i in spots], values, width=0.4, color=color, label=label)
        ax.bar_label(drawn, [f"{v:.0f}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(list(spots), list(names.values()), fontsize=8)
    ax.set_ylabel("RSS, MiB")
    ax.spines[["top", "right"]].set_visible(False)
    goal_mark(ax, 0.2, GOAL_MIB, f"{GOAL_MIB:g}", half=0.2)  # over API + worker with N open
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("resident memory", fontsize=9)


PLOTS = {"ingest": plot_ingest, "playbooks": plot_playbooks, "latency": plot_latency, "memory": plot_memory}


def write_plot(kind: str, result: dict[str, Any]) -> Path:
    width = 8.0 if kind in ("ingest", "latency") else 6.0
    fig = Figure(figsize=(width, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, without pyplot's global state: files only
    PLOTS[kind](result, fig)
    fig.suptitle(f"{kind}: service (blue) vs baseline in the same run (grey); dashed red: issue 15's goal", fontsize=9)
    DOCS.mkdir(parents=True, exist_ok=True)
    out = DOCS / f"{kind}.png"
    fig.savefig(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="result files (default: the newest of each kind)")
    parser.add_argument("--no-readme", action="store_true", help="write the plots only")
    args = parser.parse_args(argv)
    found = load(args.files)
    plots = {kind: write_plot(kind, data) for kind, (_, data) in found.items()}
    for kind, out in plots.items():
        print(f"{kind}: {found[kind][0].name} -> {out.relative_to(ROOT)}")
    memory_runs = [json.loads(path.read_text()) for path in sorted(RESULTS_DIR.glob("memory-*.json"))]
    text = section(found, plots, cache_note(memory_runs))
    if not args.no_readme:
        rewrite_readme(text)
        print(f"rewrote the performance section of {README.relative_to(ROOT)}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
