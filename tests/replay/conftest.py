"""Fixtures of the replay tests."""

from collections.abc import Callable
from pathlib import Path

import pytest
from rasdaemon_db import make_database


@pytest.fixture
def database(tmp_path: Path) -> Callable[..., Path]:
    """``database(name, mc_rows, mf_rows)`` writes tmp_path/name with rasdaemon's schema."""
    return lambda name, mc=(), mf=None: make_database(tmp_path / name, mc, mf)
