"""Access to the shared conformance corpus (real payloads from other servers).

The corpus lives beside the checkout (``../shared/conformance``) and is never copied into
the repository. A newcomer's clone does not have it, so tests that need it skip with a clear
reason; CI sets ``TESSERA_REQUIRE_CONFORMANCE=1`` and then a missing corpus is a failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def conformance_dir() -> Path:
    """Return the corpus folder, or skip/fail the calling test when it is absent."""
    root = Path(os.environ.get("TESSERA_SHARED", REPO_ROOT.parent / "shared")) / "conformance"
    if not root.is_dir():
        reason = f"conformance corpus not found at {root} (set TESSERA_SHARED)"
        if os.environ.get("TESSERA_REQUIRE_CONFORMANCE") == "1":
            pytest.fail(reason + "; TESSERA_REQUIRE_CONFORMANCE=1 makes it required")
        pytest.skip(reason)
    return root


def load_json(relative: str) -> Any:
    """Load one JSON file of the corpus by its path relative to ``conformance/``."""
    return json.loads((conformance_dir() / relative).read_text(encoding="utf-8"))


def list_files(folder: str, suffix: str = ".json") -> list[str]:
    """Names of the corpus files in ``folder`` (for parametrising); empty when absent."""
    root = Path(os.environ.get("TESSERA_SHARED", REPO_ROOT.parent / "shared")) / "conformance"
    path = root / folder
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.name.endswith(suffix))
