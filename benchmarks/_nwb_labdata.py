"""One labdata NWB export in its own process, for ``nwb_export.py`` (which measures its time and peak RSS).

``python _nwb_labdata.py LAKE PREFERENCES OUT [--zarr] [--compression gzip:4]`` exports the benchmark's
session (raw AP and units) with ``labdata.schema.nwb_export.export_nwb`` into the folder ``OUT`` and prints
one JSON line: the export's own seconds (the process's imports and lake opening left out) and the file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _peak_rss import peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("preferences", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--zarr", action="store_true")
    parser.add_argument("--compression", default=None, help="HDF5 raw samples: e.g. gzip:4 (default: labdata's)")
    args = parser.parse_args()
    started = time.perf_counter()
    from _nwb_setup import PROJECT, SESSION, SUBJECT
    from labdata.catalog import Context, Lake, use
    from labdata.core.config import Preferences
    from labdata.schema import Session
    from labdata.schema.nwb_export import export_nwb

    context = Context(Lake("sqlite", args.lake), PROJECT, preferences=Preferences.load(args.preferences))
    options = {"compression": args.compression} if args.compression else {}
    with use(context):
        imported = time.perf_counter()
        paths = export_nwb(Session & dict(subject_name=SUBJECT, session_name=SESSION), args.out,
                           backend="zarr" if args.zarr else "hdf5", progress=False, **options)
    done = time.perf_counter()
    print(json.dumps({"seconds": done - imported, "startup": imported - started, "path": str(paths[0]),
                      "rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
