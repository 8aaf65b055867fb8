"""``tessera serve`` in one process, or in several web processes on one socket.

One process answers requests on one event loop, so it uses one core however many the
machine has (docs/performance.md: a signed-in page or a client-API timeline costs a few
milliseconds of Python). With ``[server] processes = N`` the server binds its socket once
and forks N web processes that all accept from it; the kernel hands each connection to
one of them. Forking after the imports shares the imported stack between them
copy-on-write and starts them in milliseconds instead of re-importing it N times.

- Process 0 also runs the background workers (deliveries, inbox processing), as the one
  process does: several processing loops would contend for SQLite's one write lock.
- A write answered by any process empties the caches of all (``ChangeSignal``): pages,
  rendered entities, resolved tokens and sessions.
- The parent only supervises: it forwards SIGTERM and SIGINT to the web processes, waits
  for them to finish their requests and lifespans, and starts a web process again if one
  dies (after a pause, so a process that fails at once does not spin). A web process
  ends with its parent (``PR_SET_PDEATHSIG`` on Linux), so a killed supervisor leaves no
  process holding the port.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from storage.change_signal import ChangeSignal
from storage.ids import set_process_tag
from tessera.config import Config
from tessera.errors import TesseraError

__all__ = ["freeze_startup_objects", "serve"]

log = logging.getLogger("tessera.serve")

RESTART_PAUSE = 1.0
"""Seconds before a web process that died is started again."""


def freeze_startup_objects() -> None:
    """Move everything made so far (imported modules, the app, SQLAlchemy's mappers) out
    of the cyclic garbage collector's sight: they live as long as the process, and each
    full collection walked all of them, a pause of the event loop of tens of
    milliseconds under load that showed as the inbox's p99 (docs/performance.md). No
    collection first: it would cost ~45 ms of start-up for the little garbage imports
    leave. Collection was off while they were made (``tessera.cli.cmd_serve``) and comes
    back on here. Before a fork it also keeps the collector from writing to the shared
    pages, which would copy them into each process."""
    gc.freeze()
    gc.enable()


def _uvicorn_options(config: Config, host: str, port: int) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "proxy_headers": config.server.trusted_proxy,
        "server_header": False,
    }


def serve(config: Config, *, host: str, port: int) -> int:
    import uvicorn

    from web.app import create_app

    options = _uvicorn_options(config, host, port)
    if config.server.processes == 1:
        app = create_app(config)
        freeze_startup_objects()
        uvicorn.run(app, **options)
        return 0
    return _Supervisor(config, options, config.server.processes).run()


def _port_is_free(host: str, port: int, family: int) -> None:
    """Refuse a port another server holds: ``SO_REUSEPORT`` would otherwise let a second
    ``tessera serve`` (a stale one, or a mistaken second start) bind beside the first
    and split its traffic. A plain bind, without the option, fails if anyone listens."""
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    finally:
        probe.close()


def _listening_sockets(host: str, port: int, count: int) -> list[socket.socket] | None:
    """One listening socket per web process, all on ``host:port`` with ``SO_REUSEPORT``:
    the kernel spreads new connections over them evenly. With one shared socket, the
    process that wakes first accepts every connection waiting (asyncio accepts in a
    loop), and a burst of keep-alive connections lands on one process: 16 benchmark
    connections over two processes ran at half the rate of 8. None where the platform has
    no ``SO_REUSEPORT``."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _port_is_free(host, port, family)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno in (errno.ENOPROTOOPT, errno.EINVAL):
            return None
        raise
    return sockets


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies; elsewhere (no
    prctl) a web process outlives a killed supervisor until it is stopped itself."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGALRM}


def _wait_for_single_thread(seconds: float = 2.0) -> None:
    """Fork only from a process with one thread: a thread holding a lock at the fork
    leaves it held forever in the child. The database connections opened by the start-up
    step (migration check, first admin) end their threads when they close; give them a
    moment."""
    deadline = time.monotonic() + seconds
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    if threading.active_count() > 1:
        log.warning("forking with %d threads running", threading.active_count())


class _Supervisor:
    """Starts the web processes, restarts one that dies, and stops them all on SIGTERM or
    SIGINT. A process that keeps dying (``GIVE_UP_AFTER`` deaths within
    ``GIVE_UP_WINDOW`` seconds) stops the server with exit status 1, so a service
    manager sees the failure instead of a server answering a share of its connections
    from a backlog nobody accepts."""

    GIVE_UP_AFTER = 5
    GIVE_UP_WINDOW = 60.0
    STOP_GRACE = 30
    """Seconds the web processes get to finish their requests and lifespans on a stop."""

    def __init__(self, config: Config, options: dict[str, Any], count: int) -> None:
        self.config = config
        self.options = options
        self.count = count
        self.children: dict[int, int] = {}  # pid -> process index
        self.stopping = False
        self.failed = False
        self.deaths: list[float] = []

    def run(self) -> int:
        import uvicorn

        from web.security import load_or_create_secret

        host, port = self.options["host"], self.options["port"]
        try:
            sockets = _listening_sockets(host, port, self.count)
        except OSError as exc:  # in use, or not an address of this machine
            raise TesseraError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        if sockets is None:  # no SO_REUSEPORT: one socket that every process accepts from
            shared = uvicorn.Config(app="", **self.options).bind_socket()
            sockets = [shared] * self.count
        # Made here, before the fork, so that every process signs with the same key.
        load_or_create_secret(self.config.server.secret_key_file)
        change_signal = ChangeSignal(self.count)
        freeze_startup_objects()
        _wait_for_single_thread()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.count):
            self._spawn(index, sockets, change_signal)
        log.info("serving with %d web processes", self.count)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = self.children.pop(pid, None)
            if index is None or self.stopping:
                continue
            self._restart(index, pid, status, sockets, change_signal)
        for sock in set(sockets):
            sock.close()
        return 1 if self.failed else 0

    def _restart(
        self,
        index: int,
        pid: int,
        status: int,
        sockets: list[socket.socket],
        change_signal: ChangeSignal,
    ) -> None:
        code = os.waitstatus_to_exitcode(status)
        ended = f"exit status {code}" if code >= 0 else f"signal {-code}"
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < self.GIVE_UP_WINDOW] + [now]
        if len(self.deaths) >= self.GIVE_UP_AFTER:
            log.error(
                "web process %d (pid %d) ended (%s); %d ended within %d s: stopping",
                index,
                pid,
                ended,
                len(self.deaths),
                self.GIVE_UP_WINDOW,
            )
            self.failed = True
            self._stop(signal.SIGTERM, None)
            return
        log.warning("web process %d (pid %d) ended (%s); starting it again", index, pid, ended)
        time.sleep(RESTART_PAUSE)
        if not self.stopping:
            self._spawn(index, sockets, change_signal)

    def _stop(self, signum: int, _frame: Any) -> None:
        """Pass the signal on (a second Ctrl-C is uvicorn's "stop now"), and end with
        SIGKILL whatever is still running ``STOP_GRACE`` seconds after the first."""
        if not self.stopping:
            self.stopping = True
            signal.signal(signal.SIGALRM, self._kill)
            signal.alarm(self.STOP_GRACE)
        self._signal_all(signum)

    def _kill(self, _signum: int, _frame: Any) -> None:
        log.warning("web processes still running after %d s: killing them", self.STOP_GRACE)
        self._signal_all(signal.SIGKILL)

    def _signal_all(self, signum: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _spawn(self, index: int, sockets: list[socket.socket], change_signal: ChangeSignal) -> None:
        """Fork web process ``index`` with SIGTERM and SIGINT blocked, so neither can run
        the supervisor's handler in the child, nor reach the parent between the fork and
        the child's entry in ``children`` (it would not be told to stop)."""
        parent = os.getpid()
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
            else:
                self.children[pid] = index
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        if pid:
            if self.stopping:  # asked to stop while this one was being made
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            return
        code = 1
        try:
            for other in set(sockets) - {sockets[index]}:
                other.close()
            code = self._child(index, sockets[index], change_signal, parent)
        except BaseException:
            log.exception("web process %d failed", index)
        finally:
            logging.shutdown()
            os._exit(code)

    def _child(
        self, index: int, sock: socket.socket, change_signal: ChangeSignal, parent: int
    ) -> int:
        import uvicorn

        from web.app import create_app

        _die_with_parent(parent)
        set_process_tag(index)
        change_signal.attach(index)
        app = create_app(self.config, run_workers=index == 0, change_signal=change_signal)
        gc.freeze()
        server = uvicorn.Server(uvicorn.Config(app, **self.options))
        server.run(sockets=[sock])
        return 0 if server.started else 1
