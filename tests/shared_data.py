"""Where the shared real data files are: ``../shared/data`` beside the repository (in CI too)."""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
