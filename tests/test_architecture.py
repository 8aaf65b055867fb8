"""The layering rules of docs/architecture.md, checked on every import in the tree.

web → services → federation → storage / media → tessera (config, errors). Nothing
imports web; only web imports Starlette; only storage imports SQLAlchemy/SQLModel/Alembic;
only media imports Pillow; only the federation transport imports an HTTP client (httpx, and aiohttp under it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["tessera", "web", "services", "federation", "storage", "media"]

# package -> packages it may import
ALLOWED = {
    "web": {"web", "services", "federation", "storage", "media", "tessera"},
    "services": {"services", "federation", "storage", "media", "tessera"},
    "federation": {"federation", "storage", "media", "tessera"},
    "storage": {"storage", "tessera"},
    "media": {"media", "tessera"},
    "tessera": {"tessera", "web", "services", "storage", "federation"},  # composition root
}
# third-party module -> packages that may import it
RESTRICTED = {
    "starlette": {"web"},
    "sqlalchemy": {"storage"},
    "sqlmodel": {"storage"},
    "alembic": {"storage"},
    "PIL": {"media"},
    "blurhash": {"media"},
    "httpx": {"federation"},
    "httpx_aiohttp": {"federation"},
    "aiohttp": {"federation"},
    "uvicorn": {"tessera"},
}
# Sessions are passed through services to storage's named queries; services and web may
# hold an AsyncSession object and type-annotate with it, so sqlmodel's session module is
# allowed there for typing and transactions. The effectful half of federation (outbox,
# delivery, inbox processing, fetch caching) writes rows in the caller's transaction too.
EXTRA = {
    ("federation", "sqlmodel"),
    ("federation", "sqlalchemy"),
    ("services", "sqlmodel"),
    ("services", "sqlalchemy"),
    ("web", "sqlmodel"),
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def all_sources() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), all_sources(), ids=lambda v: str(v))
def test_layering(package: str, path: Path) -> None:
    for name in imports_of(path):
        top = name.split(".")[0]
        if top in ALLOWED:
            assert top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"
        if top in RESTRICTED and package not in RESTRICTED[top]:
            assert (package, top) in EXTRA, f"{path.relative_to(ROOT)} imports {name}"


def test_only_the_transport_imports_http_clients() -> None:
    clients = {"httpx", "httpx_aiohttp", "aiohttp"}
    users = [
        path.relative_to(ROOT).as_posix()
        for _pkg, path in all_sources()
        if any(n.split(".")[0] in clients for n in imports_of(path))
    ]
    assert all(u.startswith("federation/transport") for u in users), users
