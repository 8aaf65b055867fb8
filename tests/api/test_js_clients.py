"""The JS client libraries masto and megalodon (from npm) against a live Tessera: each
registers an app, gets a token through the code flow, uploads, posts, reads the home
timeline, favourites and reads notifications. Skipped where node or npm is missing;
``.ci/run`` installs the pinned packages (tests/api/js/package-lock.json)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from services.accounts import create_user
from tests.api.live import browser_authorize, live_server
from tests.imagegen import png_bytes

JS_DIR = Path(__file__).resolve().parent / "js"
CALLBACK = "https://client.example/callback"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(
    not (shutil.which("node") and shutil.which("npm")),
    reason="node and npm are not installed: the masto/megalodon smoke test needs them",
)


async def run(*args: str, cwd: Path = JS_DIR, timeout: float = 300) -> str:
    process = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, f"{args[:2]} failed:\n{err.decode()[-4000:]}"
    return out.decode()


async def ensure_packages() -> None:
    if (
        not (JS_DIR / "node_modules" / "masto").is_dir()
        or not (JS_DIR / "node_modules" / "megalodon").is_dir()
    ):
        await run("npm", "ci", "--no-audit", "--no-fund")


async def node(*args: str) -> dict[str, Any]:
    out = await run("node", "smoke.mjs", *args, timeout=120)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def test_masto_and_megalodon(tmp_path: Path, migrated_template: Path) -> None:
    await ensure_packages()
    image = tmp_path / "image.png"
    image.write_bytes(png_bytes(300, 200, seed=31))
    async with live_server(tmp_path / "live", migrated_template) as live:
        await create_user(live.services, "alice", PASSWORD)
        apps = await node("register", live.base, CALLBACK)
        masto_url = f"{live.base}/oauth/authorize?" + urlencode(
            {
                "client_id": apps["masto"]["client_id"],
                "redirect_uri": CALLBACK,
                "response_type": "code",
                "scope": "read write follow",
            }
        )
        apps["masto"]["code"] = await asyncio.to_thread(
            browser_authorize, masto_url, "alice", PASSWORD
        )
        assert apps["megalodon"]["url"].startswith(f"{live.base}/oauth/authorize?")
        apps["megalodon"]["code"] = await asyncio.to_thread(
            browser_authorize, apps["megalodon"]["url"], "alice", PASSWORD
        )
        seen = await node("run", live.base, CALLBACK, json.dumps(apps), str(image))

    masto = seen["masto"]
    assert masto["username"] == "alice" and masto["maxMedia"] == 10
    assert masto["mediaDescription"] == "uploaded by masto"
    assert masto["statusId"] in masto["homeIds"]
    assert masto["favourited"] is True and masto["reblogOf"] == masto["statusId"]
    assert "Edited by masto" in masto["edited"]
    mega = seen["megalodon"]
    assert mega["username"] == "alice" and mega["instanceUri"].startswith("127.0.0.1:")
    assert mega["mediaDescription"] == "uploaded by megalodon"
    assert mega["statusId"] in mega["homeIds"] and mega["favourited"] is True
    assert mega["deleted"] == 200
