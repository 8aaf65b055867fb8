"""Ids: time-ordered, unique within a process, and apart between tagged processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import ids


@pytest.fixture(autouse=True)
def _restore_the_id_state() -> Iterator[None]:
    """These tests make ids a minute ahead and set this process's tag: later tests must
    get ids of their own time and tag again."""
    saved = (ids._last, ids._tag)
    yield
    ids._last, ids._tag = saved


def test_ids_of_one_millisecond_keep_increasing_and_carry_the_tag() -> None:
    ids.set_process_tag(5)
    moment = _ahead()
    made = [ids.new_id(now_ms=moment) for _ in range(3000)]  # a busy millisecond
    assert made == sorted(made) and len(set(made)) == len(made)
    assert {i & (2**ids.TAG_BITS - 1) for i in made} == {5}
    assert made[0] >> 16 == moment  # the time is in the high bits
    later = ids.new_id()
    assert later > made[-1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the processes are forked")
def test_two_tagged_processes_never_make_the_same_id() -> None:
    moment = _ahead()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # process 1: the same millisecond, its own tag
        try:
            ids.set_process_tag(1)
            made = [ids.new_id(now_ms=moment) for _ in range(2000)]
            os.write(writer, ",".join(map(str, made)).encode())
        finally:
            os._exit(0)
    os.close(writer)
    ids.set_process_tag(0)
    mine = {ids.new_id(now_ms=moment) for _ in range(2000)}
    chunks = []
    while chunk := os.read(reader, 65536):
        chunks.append(chunk)
    os.close(reader)
    os.waitpid(pid, 0)
    theirs = {int(x) for x in b"".join(chunks).decode().split(",")}
    assert len(theirs) == 2000 and len(mine) == 2000
    assert not mine & theirs


def _ahead() -> int:
    """A millisecond later than any id this test process made so far (ids only grow)."""
    return (ids.new_id() >> 16) + 60_000


def test_the_tag_is_checked() -> None:
    with pytest.raises(ValueError):
        ids.set_process_tag(64)


def test_a_process_not_told_its_tag_takes_one_no_web_process_has() -> None:
    tags = {
        int(
            subprocess.run(
                [sys.executable, "-c", "from storage import ids; print(ids.new_id() & 63)"],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
                timeout=60,
            ).stdout
        )
        for _ in range(3)
    }
    assert all(32 <= tag <= 63 for tag in tags)  # web processes are 0-31
