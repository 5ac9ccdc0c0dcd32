"""Fixtures of the compute tests: the local one-node SLURM cluster (``.ci/start-slurm``)."""

from __future__ import annotations

import pytest
from slurm_cluster import SlurmCluster, require_slurm


@pytest.fixture(scope="session")
def slurm() -> SlurmCluster:
    """The SLURM cluster on 127.0.0.1; skips (fails in CI) with the reason when none answers."""
    require_slurm()
    return SlurmCluster()
