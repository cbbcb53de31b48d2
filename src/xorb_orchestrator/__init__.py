"""xorb-orchestrator: a security response orchestrator on Temporal."""

__version__ = "0.1.0"
