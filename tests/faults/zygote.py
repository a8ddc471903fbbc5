"""A pre-imported launcher for the fault tests' `ablate` commands, as Android's zygote or a fork server.

Every `ablate run` the fault tests start pays ~8 s of CPU importing torch, MLflow, Optuna and SQLAlchemy
before it does anything, and the kill/resume tests start dozens. Here one process per test process imports
them once and forks each command from there: the command is a new process (its own pid and session, the
test's pipes as stdin/stdout/stderr, the test's cwd and environment) that runs the real console script,
`ablate.cli:entry`, so signals, exit codes, process groups and orphaned workers behave as with a fresh
interpreter. `Launched` is the part of subprocess.Popen the tests use.

Nothing of ablate is imported before the fork (its modules read the environment the test gives each command),
and torch's thread pools are not started. ABLATE_TEST_NO_ZYGOTE=1 runs every command as a fresh interpreter.

    python zygote.py SOCKET   serve on the Unix socket SOCKET until the test process that started it is gone
"""

from __future__ import annotations

import atexit
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# third-party imports only, in the order `ablate run` makes them (alembic's: MLflow's SQL store on creation)
PRELOAD = ["torch", "torch._dynamo", "torch.optim", "numpy", "yaml", "pandas", "mlflow", "mlflow.tracking",
           "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.db.utils", "optuna", "sqlalchemy",
           "alembic.command", "alembic.config", "alembic.script", "alembic.migration",
           "alembic.runtime.environment"]
_HEADER = struct.Struct("!I")


# ---------------------------------------------------------------- server


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise EOFError("the client went away mid-request")
        data += more
    return json.loads(data[_HEADER.size:]), list(fds)


def _become(request: dict, fds: list[int]) -> None:
    """In the forked child: take the request's streams, directory, environment and argv, as exec would."""
    os.setsid()
    for fd, target in zip(fds, (0, 1, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal starts a command
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    script = Path(sys.executable).with_name("ablate")
    sys.argv = [str(script), *request["argv"]]
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:1] = [str(script.parent), *extra]  # a console script's sys.path[0] is its own directory


def serve(path: str) -> dict | None:
    """Fork a child per request; returns only in a child, with its request, once the child is set up."""
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    owner = os.getppid()
    children: dict[int, socket.socket] = {}
    with selectors.DefaultSelector() as sel:
        sel.register(listener, selectors.EVENT_READ)
        print("ready", flush=True)
        while os.getppid() == owner:
            for _ in sel.select(timeout=0.02 if children else 0.5):
                conn, _ = listener.accept()
                try:
                    request, fds = _receive(conn)
                except (OSError, EOFError, ValueError):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    listener.close()
                    for other in children.values():
                        other.close()
                    conn.close()
                    _become(request, fds)
                    return request
                for fd in fds:
                    os.close(fd)
                try:
                    conn.sendall(f"{pid}\n".encode())
                except OSError:
                    pass
                children[pid] = conn
            while children:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                conn = children.pop(pid, None)
                if conn is not None:
                    try:
                        conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                    except OSError:
                        pass
                    conn.close()
    return None


# ---------------------------------------------------------------- client


class Launched:
    """A command the zygote forked: pid, returncode, poll, wait, communicate, send_signal, terminate, kill,
    and text-mode stdout/stderr pipes, as subprocess.Popen(..., stdout=PIPE, stderr=PIPE, text=True)."""

    def __init__(self, args: list[str], conn: socket.socket, stdout: int, stderr: int) -> None:
        self.args = args
        self._conn = conn
        self._reply = b""
        self.pid = int(self._line(None))
        self.returncode: int | None = None
        self.stdout = io.TextIOWrapper(io.FileIO(stdout, "r"))
        self.stderr = io.TextIOWrapper(io.FileIO(stderr, "r"))
        self._out: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._readers: list[threading.Thread] = []

    def _line(self, timeout: float | None) -> str | None:
        """The zygote's next line (the pid, then the exit code), or None when it did not come in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._reply:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._conn.settimeout(left)
            try:
                chunk = self._conn.recv(64)
            except (TimeoutError, BlockingIOError):
                return None
            if not chunk:
                raise RuntimeError(f"the zygote went away while {self.args} ran")
            self._reply += chunk
        line, _, self._reply = self._reply.partition(b"\n")
        return line.decode()

    def poll(self) -> int | None:
        if self.returncode is None:
            code = self._line(0)
            if code is not None:
                self.returncode = int(code)
                self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            code = self._line(timeout)
            if code is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = int(code)
            self._conn.close()
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Read both pipes to their end (the command and every process that inherited them closed them), then
        wait for the exit code; a timeout leaves the reading going for the next call, as Popen does."""
        if not self._readers:
            for name in ("stdout", "stderr"):
                stream = getattr(self, name)
                thread = threading.Thread(target=lambda s=stream, n=name: self._out[n].append(s.read()),
                                          daemon=True)
                thread.start()
                self._readers.append(thread)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._readers:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for stream in (self.stdout, self.stderr):
            stream.close()
        return "".join(self._out["stdout"]), "".join(self._out["stderr"])

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # the zygote reaps at once: after that the pid may be another process's
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The server process and the socket it listens on; start it once per test process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.dir = tempfile.mkdtemp(prefix="ablate-zygote.")
        self.path = os.path.join(self.dir, "socket")
        self.log = os.path.join(self.dir, "zygote.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, __file__, self.path], env=env, stdout=subprocess.PIPE,
                                         stderr=log, stdin=subprocess.DEVNULL, text=True,
                                         start_new_session=True)
        atexit.register(self.close)
        ready = self.proc.stdout.readline()
        if ready.strip() != "ready":
            self.close()
            raise RuntimeError(f"the zygote did not start: {Path(self.log).read_text()[-2000:]}")

    def launch(self, args: list[str], cwd: Path, env: dict[str, str]) -> Launched:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the zygote exited {self.proc.returncode}: {Path(self.log).read_text()[-2000:]}")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.path)
            body = json.dumps({"argv": args, "cwd": str(cwd), "env": env}).encode()
            socket.send_fds(conn, [_HEADER.pack(len(body)) + body], [stdin, out_w, err_w])
        except BaseException:
            conn.close()
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (stdin, out_w, err_w):
                os.close(fd)
        return Launched(args, conn, out_r, err_r)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for name in (self.path, self.log):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


if __name__ == "__main__":
    if serve(sys.argv[1]) is None:
        sys.exit(0)
    from ablate.cli import entry  # in a forked child: the console script, exactly

    entry()
