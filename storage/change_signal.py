"""A signal between the web processes of one instance: "a write went through here".

Each web process keeps short-lived caches (anonymous pages, rendered client-API entities,
resolved tokens and sessions) and empties them when it answers a write, so whoever
publishes, revokes a token or signs out sees it on the very next request. With several
web processes (``[server] processes``) the next request may reach another process, whose
caches must then be emptied too, at once: a revoked token must not work in the process
that did not revoke it.

The signal is a block of shared memory made before the processes are forked, one 8-byte
counter per process. A process that answers a write adds one to its own counter (one
writer per counter, so no lock and no lost update); every request first compares the
block with the copy it saw last (8 bytes a process, well under a microsecond)
and empties its caches when another process's counter moved. No file, no system call
per request. Changes made outside the web processes (the inbox worker, the CLI) are not
signalled and show within the caches' TTL, as with one process.
"""

from __future__ import annotations

import mmap

__all__ = ["ChangeSignal"]

_SLOT = 8


class ChangeSignal:
    """Made once in the parent, before forking; each process then calls ``attach`` with
    its own index."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.processes = processes
        self._memory = mmap.mmap(-1, processes * _SLOT, flags=mmap.MAP_SHARED)
        self._index = 0
        self._seen = bytearray(processes * _SLOT)

    def attach(self, index: int) -> None:
        """Become process ``index`` (0 .. processes-1): its writes bump slot ``index``."""
        if not 0 <= index < self.processes:
            raise ValueError(f"process index {index} out of range")
        self._index = index
        self._seen = bytearray(self._memory[:])

    def bump(self) -> None:
        """This process answered a write: tell the others. Only this process writes its
        slot, and it updates its own copy of that slot alone, so a change another process
        made meanwhile is still seen at the next ``changed``."""
        start = self._index * _SLOT
        value = (int.from_bytes(self._memory[start : start + _SLOT], "little") + 1) % (1 << 64)
        encoded = value.to_bytes(_SLOT, "little")
        self._memory[start : start + _SLOT] = encoded
        self._seen[start : start + _SLOT] = encoded

    def changed(self) -> bool:
        """Whether another process answered a write since this one last looked."""
        current = self._memory[:]
        if current == self._seen:
            return False
        self._seen[:] = current
        return True
