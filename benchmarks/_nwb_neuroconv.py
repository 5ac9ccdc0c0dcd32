"""NeuroConv's export of the benchmark's raw files, run by ``nwb_export.py`` with NeuroConv's interpreter.

``python _nwb_neuroconv.py RUN_FOLDER KILOSORT_FOLDER OUT.nwb`` converts the AP stream of the SpikeGLX run
(``SpikeGLXRecordingInterface``, stream ``imec0.ap``) and the Kilosort/phy folder
(``KiloSortSortingInterface``) with a ``ConverterPipe`` into one HDF5 file, NeuroConv's default backend
configuration (chunks of ~10 MB, gzip) and iterator (1 GB buffers), and prints one JSON line: the
conversion's seconds (imports and interface set-up left out), NeuroConv's version and the file.
Needs only NeuroConv (``pip install "neuroconv[spikeglx,phy]"``); labdata is not imported.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

from _peak_rss import peak_rss_mb


def main() -> None:
    run_folder, kilosort, out = sys.argv[1:4]
    started = time.perf_counter()
    from importlib.metadata import version

    from neuroconv import ConverterPipe
    from neuroconv.datainterfaces import KiloSortSortingInterface, SpikeGLXRecordingInterface

    warnings.simplefilter("ignore")
    converter = ConverterPipe(data_interfaces=[SpikeGLXRecordingInterface(folder_path=run_folder, stream_id="imec0.ap"),
                                               KiloSortSortingInterface(folder_path=kilosort)])
    metadata = converter.get_metadata()
    ready = time.perf_counter()
    converter.run_conversion(nwbfile_path=out, metadata=metadata, overwrite=True)
    done = time.perf_counter()
    print(json.dumps({"seconds": done - ready, "startup": ready - started, "path": out,
                      "version": version("neuroconv"), "rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
