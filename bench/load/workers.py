"""The load-generator processes of one run, seen from the orchestrator: start, wait ready, ask, stop."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from array import array
from collections.abc import Iterator
from multiprocessing.connection import Connection as Pipe
from typing import Any

from bench.common.system import log
from bench.load.loadgen import Plan, worker_main

SETUP_TIMEOUT = 1200.0
PIPE_TIMEOUT = 30.0
PROGRESS_EVERY = 2.0


class Workers:
    """The load-generator processes of one run; :meth:`stop` ends them (safe to call twice)."""

    def __init__(self, plans: list[Plan]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for plan in plans:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(plan, theirs), daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def wait_ready(self, label: str) -> dict[str, Any]:
        """Block until every worker is ready, logging progress; returns the summed counts."""
        ready: dict[int, dict[str, Any]] = {}
        latest: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + SETUP_TIMEOUT
        last_log = 0.0
        while len(ready) < len(self.pipes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: subscribers not ready after {SETUP_TIMEOUT:.0f} s")
            for i, pipe in enumerate(self.pipes):
                if i in ready or not pipe.poll(0.05):
                    continue
                kind, data = pipe.recv()
                latest[i] = data
                if kind == "ready":
                    ready[i] = data
            for i, proc in enumerate(self.procs):
                if i not in ready and not proc.is_alive():
                    raise RuntimeError(f"{label}: load-generator worker {i} exited with {proc.exitcode}")
            if time.monotonic() - last_log > PROGRESS_EVERY:
                last_log = time.monotonic()
                log(f"{label}: connected {_sum(latest, 'connected')}, subscribed {_sum(latest, 'subscribed')}")
        return {
            "connected": _sum(ready, "connected"),
            "subscribed": _sum(ready, "subscribed"),
            "failures": [f for d in ready.values() for f in d["first_failures"]],
        }

    def ask(self, kind: str) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send(kind)
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(PIPE_TIMEOUT):
                raise RuntimeError(f"a load-generator worker did not answer {kind!r}")
            answers.append(pipe.recv()[1])
        return answers

    def received(self) -> int:
        """The change messages the workers have received so far (warm-up writes not counted)."""
        return sum(int(status["received"]) for status in self.ask("status"))

    def warm(self) -> int:
        """The subscribers a warm-up write has reached so far."""
        return sum(int(status["warm"]) for status in self.ask("status"))

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.close()
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def arrivals(answer: dict[str, Any]) -> Iterator[tuple[int, float]]:
    """(write index, received at) of every message a worker's ``finish`` answer reports."""
    indexes, times = array("i"), array("d")
    indexes.frombytes(answer["indexes"])
    times.frombytes(answer["times"])
    return zip(indexes, times, strict=True)


def _sum(data: dict[int, dict[str, Any]], key: str) -> int:
    return sum(int(d[key]) for d in data.values())
