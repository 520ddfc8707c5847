"""py-spy profiles of a server under test: where its CPU goes over a run (py-spy takes CPU of its own, so a
profiled run's figures are not reported)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 100  # samples per second
TOP_FRAMES = 12
_LINE = re.compile(r":\d+\)$")  # a py-spy frame's line number


class Profiler:
    """py-spy recording a process's stacks (raw collapsed format) until :meth:`stop`."""

    def __init__(self, pid: int, path: Path) -> None:
        sibling = Path(sys.executable).with_name("py-spy")
        exe = str(sibling) if sibling.exists() else shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy)")
        self.path = path
        cmd = [exe, "record", "-p", str(pid), "-o", str(path), "-f", "raw", "-r", str(RATE)]
        self.proc = subprocess.Popen([*cmd, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        """Stop sampling and let py-spy write its file (safe to call twice)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def top_frames(path: Path, count: int = TOP_FRAMES) -> list[str]:
    """A py-spy raw profile's busiest lines (own samples), then objectql's busiest functions (samples with the
    function on the stack)."""
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for function in {_LINE.sub(")", frame) for frame in frames if "objectql/" in frame}:
            within[function] += n
    if not total:
        return [f"{path}: no samples"]
    lines = [f"{path}: {total:,} samples; own:"]
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(count)]
    lines.append("objectql's functions, on the stack:")
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in within.most_common(count)]
    return lines
