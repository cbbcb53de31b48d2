"""Where things are, for tests at any depth of tests/."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent  # the repository
DATA = TESTS / "data"
SHARED = ROOT.parent / "shared"  # the workplace's shared folder beside a clone (absent on a plain clone)
