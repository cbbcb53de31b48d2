"""The effect and target kinds an action may declare (ActionSpec.effect / target_kind): what the guardrails budget
and check. Kept here, in the playbook layer, so validating a playbook loads nothing else; config/budgets.py accepts
the same names in XORB_BUDGETS (tests/guardrails/test_rules.py keeps the lists equal)."""

from __future__ import annotations

EFFECT_KINDS = ("block", "isolate", "disable_account", "sign_out")
TARGET_KINDS = ("ip", "host", "user", "url")
