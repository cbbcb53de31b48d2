"""Who is deciding, for the routes where a person decides (approvals, the kill switch, releases): a person-bound
API key's person, or for a service key the X-Xorb-Approver / X-Xorb-Roles headers when XORB_APPROVER_HEADERS=trust
(docs/approvals.md)."""

from __future__ import annotations

import re

from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.config.api_keys import Person

_NAME = re.compile(r"^[^\s,][^,\r\n]{0,199}$")


def decider(person: Person | None, header: str | None, header_roles: str | None, mode: str) -> tuple[str, list[str]]:
    """(name, roles) of who decides: the key's person, or for a service key the headers, when trusted."""
    claimed = (header or "").strip()
    claimed_roles = list(dict.fromkeys(role.strip() for role in (header_roles or "").split(",") if role.strip()))
    if person is not None:
        if claimed and claimed != person.name:
            raise ApiError(
                403,
                "identity_mismatch",
                f"this API key belongs to {person.name}, not {claimed!r}: a person's key decides only as that "
                "person (send no X-Xorb-Approver header, or that name)",
            )
        not_held = [role for role in claimed_roles if role not in person.roles]
        if not_held:
            raise ApiError(
                403,
                "identity_mismatch",
                f"this API key does not give {person.name} the role {not_held[0]!r} claimed in X-Xorb-Roles "
                f"(its roles: {', '.join(person.roles) or 'none'})",
            )
        return person.name, claimed_roles or list(person.roles)  # the header may only narrow the key's roles
    if mode != "trust":
        raise ApiError(
            403,
            "not_bound",
            "this API key is not bound to a person: with XORB_APPROVER_HEADERS=refuse only a person's own key "
            "(a '<key> <person> <role>,...' line in XORB_API_KEY_FILE) can approve or deny",
        )
    if not _NAME.match(claimed):
        raise ApiError(
            422,
            "missing_approver",
            "send the approver's name in the X-Xorb-Approver header (and their roles in X-Xorb-Roles, comma-separated)",
            fields=[{"field": "X-Xorb-Approver", "message": "required: who approves"}],
        )
    return claimed, claimed_roles
