"""Starting and stopping the servers under test as subprocesses, each in its own temporary app dir.

The servers run from a snapshot (:func:`snapshot`): the ``objectql`` package as committed at a git revision
plus this ``bench`` package, so work in progress in the working tree is neither measured nor able to break
a run half-way.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common.realism import REALISTIC, Realism
from bench.common.system import HOST

OBJECTQL = "objectql"
BASELINE = "baseline"
NAIVE = "naive"
# The module each kind of server runs as (``python -m``).
MODULES = {
    OBJECTQL: "bench.servers.objectql_app",
    BASELINE: "bench.servers.baseline",
    NAIVE: "bench.servers.naive_strawberry",
}
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1

# The benchmark's one object (docs/definitions.md): writes match subscribers on ``status`` (all matching)
# or ``customer`` (distinct equality filters); ``total`` carries the write's index so latency can be measured.
ORDERS_YAML = """\
label: Order
fields:
  status:   {type: select, options: [pending, paid, shipped, cancelled], default: pending}
  total:    {type: number}
  customer: {type: text}
"""


def write_app(app_dir: Path, objects: dict[str, str] | None = None) -> Path:
    """Write the benchmark app into ``app_dir``: ``objects/<name>.object.yml`` for each of ``objects``
    (by default the one ``orders`` object above)."""
    folder = app_dir / "objects"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (objects or {"orders": ORDERS_YAML}).items():
        (folder / f"{name}.object.yml").write_text(text)
    return app_dir


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the benchmark dies (even by SIGKILL), so does the server.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def snapshot(dest: Path, rev: str = "HEAD") -> str:
    """Export ``objectql`` at ``rev`` and copy ``bench`` into ``dest``; returns the commit id."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "objectql"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    shutil.copytree(REPO / "bench", dest / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    return commit


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """One server subprocess; :meth:`stop` ends it (SIGTERM, then SIGKILL) and is safe to call twice.

    ``kind`` is ``objectql`` (``bench.servers.objectql_app``: SQLite in ``workdir`` unless ``db`` is given, and
    ``broker`` for scale-out), ``baseline`` (``bench.servers.baseline``) or ``naive``
    (``bench.servers.naive_strawberry``). ``name`` tells apart several servers of one kind (their logs too).
    ``realism`` sets ours up as users run it (a JWT key; compression as asked, the baseline likewise);
    ``objects`` replaces ours's app (definition texts by object name).
    """

    def __init__(
        self,
        kind: str,
        workdir: Path,
        max_subscriptions: int,
        source: Path,
        *,
        db: str | None = None,
        broker: str | None = None,
        name: str | None = None,
        realism: Realism = REALISTIC,
        workers: int = 1,
        settings: dict[str, str] | None = None,
        objects: dict[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name or kind
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / f"{self.name}.log"
        env = dict(os.environ)
        if kind == OBJECTQL:
            app_dir = write_app(workdir / ("app" if name is None else f"app-{name}"), objects)
            cmd = [sys.executable, "-m", MODULES[OBJECTQL], str(app_dir)]
            cmd += ["--db", db or f"sqlite:///{app_dir / 'bench.db'}", "--port", str(self.port)]
            if broker is not None:
                cmd += ["--broker", broker]
            if workers > 1:
                cmd += ["--workers", str(workers)]
            env.update(
                OBJECTQL_LOG_LEVEL="warning",
                OBJECTQL_WS_MAX_SUBSCRIPTIONS=str(max(100, max_subscriptions)),
                OBJECTQL_WS_COMPRESSION=str(realism.compression).lower(),
            )
            env.pop("OBJECTQL_JWT_SECRET", None)
            if realism.secret is not None:
                env["OBJECTQL_JWT_SECRET"] = realism.secret
            env.update(settings or {})
            self.path = "/api/realtime"
        elif kind == NAIVE:
            cmd = [sys.executable, "-m", MODULES[NAIVE], "--port", str(self.port)]
            self.path = "/graphql"
        else:
            cmd = [sys.executable, "-m", MODULES[BASELINE], "--port", str(self.port)]
            if realism.compression:
                cmd.append("--compression")
            self.path = "/"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=source, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        """The processes this server started (uvicorn's workers), besides its own."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        url = f"http://{HOST}:{self.port}/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after {READY_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is not None and not self._log.closed:
            # It ended before being asked to: say so, with its last words, before the temp dir goes.
            print(
                f"{self.name} server (pid {self.pid}) had already exited with {self.proc.returncode}:\n"
                f"{self.log_tail(40)}",
                file=sys.stderr,
                flush=True,
            )
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
