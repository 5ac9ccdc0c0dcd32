"""Fixtures of the upload tests: a lab (rig, upload server, analyst) on a moto bucket."""

from __future__ import annotations

import pytest
from lab import Lab


@pytest.fixture
def lab(tmp_path, s3_server, bucket) -> Lab:
    return Lab(tmp_path, s3_server.endpoint, bucket)
