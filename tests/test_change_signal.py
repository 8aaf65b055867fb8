"""The signal between web processes: a write in one is seen once by each other one."""

from __future__ import annotations

import os

import pytest

from storage.change_signal import ChangeSignal


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the processes are forked")
def test_a_bump_in_another_process_is_seen_once_and_ones_own_never() -> None:
    signal = ChangeSignal(2)
    signal.attach(0)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # process 1
        code = 1
        try:
            signal.attach(1)
            os.write(ready_w, b"x")  # attached
            os.read(go_r, 1)  # the parent has bumped
            saw_parent = signal.changed()
            signal.bump()
            saw_own = signal.changed()
            code = 0 if saw_parent and not saw_own else 3
        finally:
            os._exit(code)
    os.close(ready_w)  # a child that dies early then reads as EOF, not a hang
    os.close(go_r)
    assert os.read(ready_r, 1) == b"x", "process 1 ended before attaching"
    assert not signal.changed()
    signal.bump()  # one's own write: the others see it, this process does not
    assert not signal.changed()
    os.write(go_w, b"x")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # saw the parent's bump, not its own
    assert signal.changed()  # process 1's bump
    assert not signal.changed()  # seen once


def test_attach_checks_the_index() -> None:
    signal = ChangeSignal(2)
    with pytest.raises(ValueError):
        signal.attach(2)
    with pytest.raises(ValueError):
        ChangeSignal(0)
