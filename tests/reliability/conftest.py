"""The reliability suites: the ``stress`` marker (left out unless asked for) and the figures they print.

``python -m pytest`` never runs a ``stress`` test; ``python -m pytest -m stress`` (or any marker
expression naming ``stress``) does. A hook rather than ``addopts = -m 'not stress'``, so that another
``-m`` (``-m postgres``) cannot pull a long stress run in by replacing that expression.
"""

from __future__ import annotations

import pytest

from tests.figures import section


@pytest.fixture(scope="session")
def reliability_figures() -> dict[str, str]:
    """Record a figure (name -> value); each is printed under "reliability figures" at the end of the run."""
    return section("reliability figures")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stress" in (config.getoption("markexpr", "") or ""):
        return
    stress = [item for item in items if item.get_closest_marker("stress") is not None]
    if stress:
        config.hook.pytest_deselected(items=stress)
        items[:] = [item for item in items if item.get_closest_marker("stress") is None]

