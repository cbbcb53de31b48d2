"""The `xorb` command's entry point: `xorb`, `xorb --help` and `xorb version` answer at once, from this small
module; anything else loads the full command (cli/main.py, which imports the service, Temporal and FastAPI, about
a second). tests/cli/test_entry.py keeps the quick help equal to the full command's list."""

from __future__ import annotations

import sys

from xorb_orchestrator import __version__

SUMMARY = "xorb-orchestrator: alerts in, durable response on Temporal, actions out."
# (command, first line of its help): as cli/main.py registers them (tests/cli/test_entry.py compares).
COMMANDS: tuple[tuple[str, str], ...] = (
    ("codec-server", "Serve the payload codec, so the Temporal Web UI and CLI show encrypted histories."),
    ("serve", "Run the API and the worker in one process (what `python main.py` does)."),
    ("worker", "Run only the Temporal worker (workflows, activities); /metrics on XORB_METRICS_PORT if set."),
    ("api", "Run only the HTTP API."),
    ("dev", "The embedded default: a real Temporal dev server and Redis, plus the worker and the API, in one go."),
    ("webhook-sink", "A local webhook receiver that prints every notification it gets (one JSON line each)."),
    ("version", "Print the version."),
    ("alerts", "Send detectors' alerts to the API: a file at once (send), or a growing log as it grows (follow)."),
    ("playbook", "Response playbooks: validate, convert and dry-run them; print the JSON Schema of the format."),
    ("actions", "Response actions: what a playbook step or a plan can run."),
    ("incidents", "Incidents: list, show and watch them; the approvals waiting for people; approve or deny one."),
    ("ti", "Threat intelligence: feeds (XORB_TI_FEEDS_FILE), their syncs, and lookups."),
    ("plan", "Response plans: explain what the policy would do for an alert."),
    ("connectors", "Connections to security tools (XORB_CONNECTORS_FILE) and their actions."),
    ("actuator", "OpenC2 actuators we ship: slpf, a stateless packet filter on nftables."),
    ("autonomy", "The kill switch: stop every new autonomous effect (and release open containments), or resume."),
    ("containments", "Containments: list what is in place and until when; release one now, or keep it longer."),
    ("audit", "The audit trail (docs/audit.md): verify its hash chain, export it."),
)


def quick_help() -> str:
    width = max(len(name) for name, _ in COMMANDS)
    lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS]
    return "\n".join(["Usage: xorb [OPTIONS] COMMAND [ARGS]...", "", f"  {SUMMARY}", "", "Commands:", *lines,
                      "", "`xorb COMMAND --help` for a command's options."])  # fmt: skip


def main() -> None:
    args = sys.argv[1:]
    quick = __version__ if args in (["version"], ["--version"]) else quick_help() if args in ([], ["--help"]) else None
    if quick is not None:
        try:
            print(quick)
        except BrokenPipeError:  # `xorb --help | head`
            sys.stderr.close()
        return
    from xorb_orchestrator.cli.main import main as full

    full()
