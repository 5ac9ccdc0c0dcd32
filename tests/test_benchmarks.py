"""The benchmark scripts run (their quick mode), so they cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_catalog_write_benchmark_runs_quick() -> None:
    result = subprocess.run([sys.executable, str(BENCHMARKS / "catalog_write.py"), "--quick", "--kinds", "sqlite"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "single-row insert, median (ms)" in result.stdout
    assert "Parquet files after" in result.stdout


def test_transfer_benchmark_runs_small() -> None:
    result = subprocess.run([sys.executable, str(BENCHMARKS / "transfer.py"), "--sizes-mb", "1", "9", "--repeats", "1"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "boto3 MB/s" in result.stdout and result.stdout.count("MiB  ") >= 4


def test_ephys_ingest_benchmark_runs_small() -> None:
    # one timed ingest per codec instead of 7 (the median of 7 is for measuring, not for running every step)
    result = subprocess.run([sys.executable, str(BENCHMARKS / "ephys_ingest.py"), "--seconds", "2", "--repeats", "2",
                             "--ingest-repeats", "1", "--no-real"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "synthetic NP1.0 2 s" in result.stdout and "mtscomp MB/s" in result.stdout


def test_catalog_query_benchmark_runs_quick() -> None:
    result = subprocess.run([sys.executable, str(BENCHMARKS / "catalog_query.py"), "--quick"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Session & 'subject_name = \"X\"', as dicts" in result.stdout
    assert "(Subject & m).aggr(DecisionTask * Session, min(..)).fetch1(..)" in result.stdout


def test_sorting_benchmark_runs_quick() -> None:
    # a tiny lab (4 sortings x 5 units), no DataJoint; part d) starts its counting moto server
    result = subprocess.run([sys.executable, str(BENCHMARKS / "sorting.py"), "--quick", "--no-dj"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "a) insert: labdata against each baseline" in out and "np.save, a .npy per unit and array" in out
    assert "(Unit & keys).fetch('spike_times'), keys from fetch('KEY')" in out
    assert "same spikes (count per call) on every side" in out
    s3 = out[out.index("d) from S3"):].splitlines()
    phy = [line for line in s3 if line.startswith("np.load, phy files per sorting") and "keys: dicts" in line]
    assert len(phy) == 1 and "GET 4" in phy[0] and " 2.00 " in phy[0]  # the server counted 2 GETs per sorting
    assert any(line.startswith("labdata ") for line in s3)


def test_unit_metrics_benchmark_runs_quick() -> None:
    result = subprocess.run([sys.executable, str(BENCHMARKS / "unit_metrics.py"), "--quick"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "spike-train metrics (12 columns)" in result.stdout and "UnitMetrics.populate()" in result.stdout


def test_nwb_export_benchmark_runs_quick() -> None:
    # a 2 s recording, labdata's exports only (NeuroConv lives in its own venv, not the test suite's)
    result = subprocess.run([sys.executable, str(BENCHMARKS / "nwb_export.py"), "--quick", "--no-neuroconv",
                             "--no-zarr"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "SpikeSorting.add_kilosort" in out and "NeuroConv: skipped (--no-neuroconv)" in out
    rows = {line.split("  ")[0]: line for line in out.splitlines() if line.startswith("labdata export_nwb")}
    assert set(rows) == {"labdata export_nwb, HDF5 (default)", "labdata export_nwb, HDF5 gzip:4"}
    assert "gzip:4, chunks (" in rows["labdata export_nwb, HDF5 gzip:4"]


def test_compute_benchmark_runs_quick() -> None:
    # 2 no-op tasks per runner against the bare schedulers, 20 keys populated by 2 workers on an embedded lake
    result = subprocess.run([sys.executable, str(BENCHMARKS / "compute.py"), "--quick", "--no-dj", "--no-postgres",
                             "--no-slurm", "--no-dask"],  # the script runs; the runners are tested in tests/compute
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    rows = {tuple(cell.strip() for cell in line.split("  ") if cell.strip())[:2] for line in out.splitlines()}
    assert ("local", "labdata submit(noop), until COMPLETED") in rows
    assert ("local", "subprocess.run(python: import labdata, open lake)") in rows
    assert any(line.startswith("labdata submit(populate, workers=2), sqlite lake") for line in out.splitlines())
    assert any(line.startswith("DataJoint 0.14 ") and "skipped (--no-dj)" in line for line in out.splitlines())
