"""The peak resident memory of this process (Linux ``VmHWM``), for the benchmarks' child processes.

``ru_maxrss`` of a child reaped with ``wait4`` is no use when the parent is large: Linux carries the
parent's high-water mark into the child across ``fork`` and ``exec``. ``VmHWM`` is the high-water mark of
the process's own address space, the one ``exec`` made. No imports but the standard library's, so that
NeuroConv's interpreter can use it too.
"""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak RSS in MB (MiB), from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (not Linux?)")
