"""A person in a real browser: sign in, publish an image, see it in the gallery.

Drives Debian's chromium with Playwright (no downloaded browser). Without chromium the
test skips with the reason; CI sets TESSERA_REQUIRE_BROWSER=1, which makes it required.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.test_commands import free_port
from tests.imagegen import png_bytes

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("TESSERA_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; TESSERA_REQUIRE_BROWSER=1 makes browser tests required")
        pytest.skip(reason)
    return path


@pytest.fixture
def live_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f"[instance]\ndomain = '127.0.0.1:{port}'\nregistrations = 'open'\n[server]\nport = {port}\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera.cli", "--config", str(tmp_path / "config.toml"), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: list[str] = []
    password = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "password:" in line:
            password = line.split("password:", 1)[1].strip()
        if "Uvicorn running" in line or "Application startup complete" in line:
            break
    if proc.poll() is not None:
        proc.kill()
        raise AssertionError("server did not start:\n" + "".join(lines))
    base = f"http://127.0.0.1:{port}"
    httpx.get(base, timeout=10).raise_for_status()
    yield base, password
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("width", [390, 1280])
def test_sign_in_post_and_see_it_in_the_gallery(live_server, tmp_path: Path, width: int) -> None:  # type: ignore[no-untyped-def]
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    base, password = live_server
    assert password, "first start printed no admin password"
    image_path = tmp_path / "lighthouse.png"
    image_path.write_bytes(png_bytes(900, 600, seed=42))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(base + "/login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/")
        page.goto(base + "/compose")
        page.set_input_files("#images", str(image_path))
        # the composer shows one alt-text slot per chosen file, with a preview
        assert page.locator("#alt-0").is_visible() and page.locator("#alt-1").is_hidden()
        assert page.locator(".slot img.preview").count() == 1
        page.get_by_label("Alt text for image 1", exact=True).fill("A lighthouse at dusk")
        page.get_by_label("Caption").fill("First light #lighthouse")
        page.get_by_role("button", name="Publish").click()
        page.wait_for_url(f"{base}/@admin/*")
        figure = page.locator("figure.image img")
        assert figure.get_attribute("alt") == "A lighthouse at dusk"
        page.wait_for_function("document.querySelector('figure.image img').naturalWidth > 0")
        page.screenshot(path=str(tmp_path / f"post-{width}.png"))
        page.goto(base + "/")
        tile = page.locator(".tile img.thumb").first
        assert tile.get_attribute("alt") == "A lighthouse at dusk"
        page.wait_for_function(
            "document.querySelector('.tile img.thumb').complete && document.querySelector('.tile img.thumb').naturalWidth > 0"
        )
        box = tile.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 30
        # the aspect ratio of the tile is the image's (3:2), nothing cropped away
        assert abs(box["width"] / box["height"] - 1.5) < 0.05
        page.screenshot(path=str(tmp_path / f"gallery-{width}.png"), full_page=True)
        browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
