"""The instance secret: made once, whatever number of processes start at the same time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from web.security import load_or_create_secret


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the processes are forked")
def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(go_w)
                os.read(go_r, 1)  # all start at once
                os.write(out_w, load_or_create_secret(path) + b"\n")
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(go_r)
    os.close(out_w)
    os.write(go_w, b"x" * 6)
    os.close(go_w)
    received = b""
    while chunk := os.read(out_r, 4096):
        received += chunk
    os.close(out_r)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    assert codes == [0] * 6
    secrets_seen = set(received.split())
    assert secrets_seen == {path.read_bytes().strip()}  # one key, the one on disk
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_secret(path) == path.read_bytes().strip()
