"""The reliability suites: the figures they print (the ``stress`` marker is tests/conftest.py's)."""

from __future__ import annotations

import pytest

from tests.figures import section


@pytest.fixture(scope="session")
def reliability_figures() -> dict[str, str]:
    """Record a figure (name -> value); each is printed under "reliability figures" at the end of the run."""
    return section("reliability figures")
