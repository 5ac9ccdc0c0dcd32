"""Finding and driving a DataJoint 0.14 baseline: its interpreter, MariaDB, and a JSON-lines subprocess.

The baselines (``_dj_baseline.py``, ``_sorting_dj.py``) run with an interpreter
that has ``datajoint<2`` (default ``/tmp/djvenv/bin/python``), kept out of the
project's venv. :class:`JsonProcess` starts one, forwards its stderr (progress
bars) to ours, reads its first JSON line (the build report) and then sends it
one request per line and reads one JSON answer per line, so that a benchmark can
time labdata and DataJoint in turns under the same machine load.

Not a script, used by ``catalog_query.py`` and ``sorting.py``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DJ_PYTHON", "JsonProcess", "datajoint_python", "mariadb_reachable"]

DEFAULT_DJ_PYTHON = "/tmp/djvenv/bin/python"


def datajoint_python(requested: str | None) -> tuple[str | None, str]:
    """The interpreter to run a baseline with (``requested``, else the default or ours), or None and why not."""
    candidates = [requested] if requested else [p for p in (DEFAULT_DJ_PYTHON, sys.executable) if Path(p).exists()]
    check = ("import datajoint, sys; print(datajoint.__version__); "
             "sys.exit(int(datajoint.__version__.split('.')[0]) >= 2)")
    reasons = []
    for python in candidates:
        done = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=tempfile.gettempdir(),
                              check=False)
        if done.returncode == 0:
            return python, f"datajoint {done.stdout.strip()} ({python})"
        found = done.stdout.strip() or "not installed"
        reasons.append(f"{python}: datajoint {found}")
    return None, "no interpreter with datajoint<2 (" + "; ".join(reasons) + ")"


def mariadb_reachable(host: str) -> str | None:
    """None when MariaDB accepts connections on ``host:3306``, else why not."""
    try:
        socket.create_connection((host, 3306), timeout=3).close()
    except OSError as error:
        return f"MariaDB is not reachable at {host}:3306 ({error})"
    return None


class JsonProcess:
    """A baseline subprocess speaking one JSON line per request; ``report`` is its first line."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.tail = b""
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd=cwd, text=False)
        threading.Thread(target=self._forward, daemon=True).start()
        self.report = self._answer()

    def _forward(self) -> None:
        for chunk in iter(lambda: self.process.stderr.read1(4096), b""):  # the progress bars
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            self.tail = (self.tail + chunk)[-3000:]

    def _answer(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            last = [t for t in self.tail.decode(errors="replace").splitlines() if t.strip()]
            raise RuntimeError(f"the DataJoint baseline failed: {last[-1] if last else self.process.returncode}")
        return json.loads(line)

    def ask(self, request: str) -> dict[str, Any]:
        """Send one request line and return the answer."""
        self.process.stdin.write(f"{request}\n".encode())
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """End the subprocess."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        self.process.wait(timeout=60)
