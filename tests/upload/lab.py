"""A lab on one machine: a rig, an upload server and an analyst, each with its own preference file.

They share the catalog (a SQLite lake) and the moto bucket; the rig's ``upload_path``
is the server's ``local_paths[0]``, as a network share would be.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from labdata.catalog import Context, Lake, use
from labdata.core.config import Preferences
from labdata.schema import File, UploadJob
from templates import copy_sqlite_lake, set_data_path

SESSION = "20240101_120000"
NEW_SUBJECT = ["--dob", "2023-06-01", "--sex", "M", "--strain", "C57BL/6J", "-u", "couto"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def copy_tree(source: Path, destination: Path) -> dict[str, Path]:
    """Copy the files of ``source`` (read-only in ../shared/data) as writable files; {relative path: copy}."""
    copies = {}
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        target = destination / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        copies[target.relative_to(destination).as_posix()] = target
    return copies


class Lab:
    """Three configurations over one lake and one bucket."""

    def __init__(self, root: Path, endpoint: str, bucket: str, *, secret_key: str = "test") -> None:
        self.root, self.endpoint, self.bucket = root, endpoint, bucket
        self.folders = {name: root / name for name in ("rig", "server", "analyst")}
        for folder in self.folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        storage = {"protocol": "s3", "endpoint": endpoint, "bucket": bucket, "folder": "raw",
                   "access_key": "test", "secret_key": "test"}
        self.prefs = {}
        for name, folder in self.folders.items():
            prefs = Preferences.load(root / f"{name}.json")
            prefs.set("lake_path", str(root / "lake"))
            prefs.set("local_paths", [str(folder)])
            prefs.set("storage.data", storage)
            if name == "rig":
                prefs.set("upload_path", str(self.folders["server"]))
                prefs.set("upload_host", socket.gethostname())
            if name == "server":
                prefs.set("storage.data.secret_key", secret_key)
            prefs.save()
            self.prefs[name] = prefs
        copy_sqlite_lake(root / "lake", "lab_data", people=True)  # LabMember couto, Species mouse, Strain C57BL/6J

    def copy(self, root: Path, bucket: str) -> Lab:
        """This lab as it is now at ``root`` on a new ``bucket``: its folders, catalog, preferences and objects.

        What a test would get by building the lab again and repeating what it did (put, upload, inserts),
        in a fraction of the time; the preference files are rewritten to name the new folders and bucket.
        """
        import boto3

        shutil.copytree(self.root, root)
        set_data_path(root / "lake")
        lab = object.__new__(Lab)
        lab.root, lab.endpoint, lab.bucket = root, self.endpoint, bucket
        lab.folders = {name: root / name for name in self.folders}
        lab.prefs = {}
        for name in self.folders:
            prefs = Preferences.load(root / f"{name}.json")
            prefs.set("lake_path", str(root / "lake"))
            prefs.set("local_paths", [str(lab.folders[name])])
            if name == "rig":
                prefs.set("upload_path", str(lab.folders["server"]))
            for storage, settings in prefs.get("storage", {}).items():
                if settings.get("bucket") == self.bucket:
                    prefs.set(f"storage.{storage}.bucket", bucket)
            prefs.save()
            lab.prefs[name] = prefs
        s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                          region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", ()):
                s3.copy_object(Bucket=bucket, Key=item["Key"], CopySource={"Bucket": self.bucket, "Key": item["Key"]})
        return lab

    def env(self, name: str) -> dict[str, str]:
        return {**os.environ, "LABDATA_PREFERENCES": str(self.root / f"{name}.json")}

    def run(self, name: str, *args: str, process: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        """``labdata ARGS`` with the configuration of ``name`` (rig, server or analyst).

        In this process (click's CliRunner), unless ``process``: a new ``python -m labdata.cli``, as the
        crash tests use to run a command again after a killed one. In this process the default
        context the command opened is closed after it and the SIGTERM handler ``upload`` installs
        is put back, as at a process's exit; an unexpected exception is raised here.
        """
        args = (*args, *self._quiet(args))
        if process:
            return subprocess.run([sys.executable, "-m", "labdata.cli", *args], capture_output=True, text=True,
                                  env=self.env(name), timeout=timeout)
        from click.testing import CliRunner

        from labdata.catalog.engine.context import default_contexts
        from labdata.cli.main import main

        handler = signal.getsignal(signal.SIGTERM)
        try:
            result = CliRunner().invoke(main, list(args),
                                        env={"LABDATA_PREFERENCES": str(self.root / f"{name}.json")})
        finally:
            default_contexts.reset()
            signal.signal(signal.SIGTERM, handler)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(["labdata", *args], result.exit_code, result.stdout, result.stderr)

    @staticmethod
    def _quiet(args: tuple[str, ...]) -> list[str]:
        return ["--no-progress"] if args and args[0] in ("put", "upload", "get") and "--queue" not in args else []

    def context(self, name: str):
        """``with lab.context("server"): ...`` uses the lake with that configuration's preferences."""
        lake = Lake("sqlite", self.root / "lake")
        self._open = lake
        return _closing(use(Context(lake, "lab_data", self.prefs[name])), lake)

    def rig_recording(self, source: Path, subject: str = "S1", dataset: str = "ephys") -> tuple[Path, dict]:
        """Copy real files into the rig's SUBJECT/SESSION/DATASET folder; return it and {file_path: copy}."""
        folder = self.folders["rig"] / subject / SESSION / dataset
        copies = copy_tree(source, folder)
        return folder, {f"{subject}/{SESSION}/{dataset}/{rel}": path for rel, path in copies.items()}

    def registered(self) -> dict[str, dict]:
        with self.context("server"):
            return {r["file_path"]: r for r in File.fetch(as_dict=True)}

    def jobs(self) -> list[dict]:
        with self.context("server"):
            return UploadJob.fetch(as_dict=True, order_by="job_id")


class _closing:  # noqa: N801 - named after contextlib.closing
    def __init__(self, inner, lake) -> None:
        self.inner, self.lake = inner, lake

    def __enter__(self):
        return self.inner.__enter__()

    def __exit__(self, *exc):
        try:
            return self.inner.__exit__(*exc)
        finally:
            self.lake.close()
