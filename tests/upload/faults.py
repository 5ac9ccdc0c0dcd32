"""Run ``labdata ARGS`` and kill the process with SIGKILL at the N-th crossing of a boundary.

Boundaries are the places where a crash can split work: each local file copy, each
catalog transaction, each S3 request and each file moved into place. The process is
killed just before or just after one of them (both count); ``LABDATA_KILL_SIGNAL=TERM`` sends
SIGTERM instead, as a scheduler or ``kill`` would. With ``LABDATA_KILL_AT=0``
nothing is killed and the number of crossings is written to ``LABDATA_KILL_COUNT``.

Usage: ``LABDATA_KILL_AT=N python tests/upload/faults.py put FOLDER ...``, or
``... faults.py -c CODE`` to run Python code instead of a command.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import signal
import sys
import threading

_lock = threading.Lock()
_crossed = 0
_kill_at = int(os.environ.get("LABDATA_KILL_AT", "0"))
_signal = getattr(signal, f"SIG{os.environ.get('LABDATA_KILL_SIGNAL', 'KILL')}")


def _cross() -> None:
    global _crossed  # noqa: PLW0603 - a count shared by the process's threads
    with _lock:
        _crossed += 1
        if _crossed == _kill_at:
            os.kill(os.getpid(), _signal)


def _around(function):
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            _cross()
            result = await function(*args, **kwargs)
            _cross()
            return result
        return wrapper

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        _cross()
        result = function(*args, **kwargs)
        _cross()
        return result
    return wrapper


def install() -> None:
    import s3fs.core

    import labdata.catalog.engine.lake
    import labdata.stores.transfer

    labdata.stores.transfer.copy_file = _around(labdata.stores.transfer.copy_file)
    labdata.stores.transfer.os.replace = _around(os.replace)
    labdata.catalog.engine.lake.Lake.transaction = _wrap_context(labdata.catalog.engine.lake.Lake.transaction)
    s3fs.core.S3FileSystem._call_s3 = _around(s3fs.core.S3FileSystem._call_s3)  # reads (cat_file)
    s3fs.core.S3FileSystem.call_s3 = _around(s3fs.core.S3FileSystem.call_s3)  # its own copy of _call_s3
    import labdata.schema.spike_arrays  # a sorting's array group is written before its rows are committed

    labdata.schema.spike_arrays.write_objects = _around(labdata.schema.spike_arrays.write_objects)
    for module in ("labdata.upload.put", "labdata.stores.local"):
        loaded = sys.modules.get(module) or __import__(module, fromlist=["_"])
        if hasattr(loaded, "copy_file"):
            loaded.copy_file = labdata.stores.transfer.copy_file


def _wrap_context(method):
    """A transaction counts as crossed when it starts and when it has committed."""
    import contextlib

    @functools.wraps(method)
    @contextlib.contextmanager
    def wrapper(self, *args, **kwargs):
        outermost = not self.in_transaction
        if outermost:
            _cross()
        with method(self, *args, **kwargs) as value:
            yield value
        if outermost:
            _cross()
    return wrapper


def _report() -> None:
    target = os.environ.get("LABDATA_KILL_COUNT")
    if target:
        with open(target, "w") as out:
            out.write(str(_crossed))


if __name__ == "__main__":
    install()
    atexit.register(_report)
    if sys.argv[1] == "-c":
        exec(compile(sys.argv[2], "<faults -c>", "exec"), {"__name__": "__faults__"})
    else:
        from labdata.cli.main import main

        main(sys.argv[1:], prog_name="labdata")
