"""Every patch id the workflow code uses is listed in workflows/patches.py, and every listed one is in use."""

from __future__ import annotations

import ast
from pathlib import Path

import xorb_orchestrator
from xorb_orchestrator.workflows import patches

PACKAGE = Path(xorb_orchestrator.__file__).parent
PATCH_CALLS = {"patched", "deprecate_patch"}


def listed() -> dict[str, patches.Patch]:
    """The module-level Patch constants of patches.py, by name."""
    return {name: value for name, value in vars(patches).items() if isinstance(value, patches.Patch)}


def patch_uses(source: str) -> list[str]:
    """The patch each `workflow.patched(...)` / `workflow.deprecate_patch(...)` call names: the constant's
    name when the argument is `X.id` or `patches.X.id`, else the argument's source (which no check accepts)."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in PATCH_CALLS or len(node.args) != 1:
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Attribute) and arg.attr == "id":
            target = arg.value
            if isinstance(target, ast.Name):
                uses.append(target.id)
                continue
            if isinstance(target, ast.Attribute):
                uses.append(target.attr)
                continue
        uses.append(ast.unparse(arg))
    return uses


def package_uses() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "patches.py":
            continue
        for use in patch_uses(path.read_text()):
            found.setdefault(use, []).append(str(path.relative_to(PACKAGE)))
    return found


def test_every_patch_used_is_listed() -> None:
    unlisted = {use: where for use, where in package_uses().items() if use not in listed()}
    assert not unlisted, f"patch ids not listed in workflows/patches.py (name a Patch constant's .id): {unlisted}"


def test_every_listed_patch_is_used() -> None:
    unused = set(listed()) - set(package_uses())
    assert not unused, f"listed in workflows/patches.py but used nowhere (retire them): {sorted(unused)}"


def test_listed_patches_are_well_formed() -> None:
    assert set(patches.PATCHES) == set(listed().values()), "every Patch constant belongs in PATCHES, and only those"
    ids = [patch.id for patch in patches.PATCHES]
    assert len(ids) == len(set(ids)), f"patch ids repeat: {ids}"
    for patch in patches.PATCHES:
        assert patch.retire_after > patch.added and patch.why, patch


def test_the_check_catches_raw_and_unknown_ids() -> None:
    source = (
        "from temporalio import workflow\n"
        "from xorb_orchestrator.workflows import patches\n"
        "if workflow.patched('raw-id'): pass\n"
        "if workflow.patched(patches.UNKNOWN.id): pass\n"
        "workflow.deprecate_patch(OLD.id)\n"
        "workflow.patched\n"
    )
    assert patch_uses(source) == ["'raw-id'", "UNKNOWN", "OLD"]
    assert not {"'raw-id'", "UNKNOWN", "OLD"} & set(listed())
