"""The tessera command as an operator runs it: real processes, a real SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tessera(
    tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli", "--config", str(tmp_path / "config.toml"), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def write_config(tmp_path: Path, port: int = 8000) -> None:
    (tmp_path / "config.toml").write_text(
        f"[instance]\ndomain = '127.0.0.1:{port}'\n[server]\nport = {port}\n"
        "[database]\nurl = 'sqlite+aiosqlite:///data/tessera.db'\n[media]\nroot = 'data/media'\n"
    )
    (tmp_path / "data").mkdir(exist_ok=True)


def test_user_commands(tmp_path: Path) -> None:
    write_config(tmp_path)
    created = tessera(tmp_path, "user", "create", "painter", "--admin")
    assert created.returncode == 0, created.stderr
    assert "created administrator painter" in created.stdout
    password = created.stdout.strip().split()[-1]
    assert len(password) >= 16
    piped = tessera(
        tmp_path, "user", "create", "sketcher", "--password-stdin", stdin="a typed password\n"
    )
    assert piped.returncode == 0 and "password:" not in piped.stdout
    taken = tessera(tmp_path, "user", "create", "painter")
    assert taken.returncode == 1 and "taken" in taken.stderr and "Traceback" not in taken.stderr
    bad = tessera(tmp_path, "user", "create", "no spaces allowed")
    assert bad.returncode == 1 and "Username must be" in bad.stderr
    short = tessera(tmp_path, "user", "create", "shorty", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    disabled = tessera(tmp_path, "user", "disable", "sketcher")
    assert disabled.returncode == 0
    listing = tessera(tmp_path, "user", "list")
    lines = {line.split("\t")[0]: line for line in listing.stdout.splitlines()}
    assert "admin" in lines["painter"] and "active" in lines["painter"]
    assert "disabled" in lines["sketcher"]
    missing = tessera(tmp_path, "user", "disable", "ghost")
    assert missing.returncode == 1 and "No local user named 'ghost'" in missing.stderr


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    write_config(tmp_path)
    first = tessera(tmp_path, "migrate")
    assert first.returncode == 0 and "applied 0 migration" not in first.stdout
    assert "0001" in first.stdout
    second = tessera(tmp_path, "migrate")
    assert second.returncode == 0 and "applied 0 migration" in second.stdout


def test_help_on_every_command(tmp_path: Path) -> None:
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["user", "create", "--help"],
        ["migrate", "--help"],
        ["check-config", "--help"],
        ["user", "list", "--help"],
        ["user", "disable", "--help"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "tessera.cli", *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and "usage:" in result.stdout, args


def test_serve_creates_admin_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera.cli", "--config", str(tmp_path / "config.toml"), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        output = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("server did not answer")
        assert "Tessera" in response.text
        # sign in with the printed first-run password
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal so a supervisor sees it
        assert proc.returncode in (0, -signal.SIGTERM), output
        assert "Finished server process" in output, output
        assert "username: admin" in output
        password = output.split("password: ", 1)[1].split()[0]
        listing = tessera(tmp_path, "user", "list")
        assert listing.stdout.startswith("admin\tadmin\tactive")
        assert len(password) >= 16
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # a second start creates no second admin and prints no password
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera.cli", "--config", str(tmp_path / "config.toml"), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        assert "password:" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
