"""The plain data a task is made of: its share of a selection and the resources a scheduler gives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Resources", "Work"]


@dataclass(frozen=True)
class Resources:
    """What a scheduler gives one task: CPUs, GPUs, memory (``"8G"``), wall time (``"24:00:00"``), partition."""

    cpus: int = 1
    gpus: int = 0
    memory: str | None = None
    time: str | None = None
    partition: str | None = None


@dataclass(frozen=True)
class Work:
    """One task's share of a selection: its dataset (None for lab-wide work), files and extra parameters."""

    dataset: dict[str, str] | None
    files: list[dict[str, str]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
