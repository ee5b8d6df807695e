"""The whole suite: how it is spread over workers, and the figures printed at its end.

``python -m pytest`` runs on three worker processes (pytest-xdist, ``-n 3`` in pyproject.toml). Each module goes to
one worker as a whole, so a module's played session (hostile input, the complete caucus, ...) is set up once; the
isolation and at-rest suites, which inspect one shared session, go together. ``-n 0`` runs everything in this
process.

``python -m pytest`` never runs a ``stress`` test (1,000 crash kill points, 200 participants on three workers);
``python -m pytest -m stress`` (or any marker expression naming ``stress``) does. A hook rather than
``addopts = -m 'not stress'``, so that another ``-m`` (``-m postgres``) cannot pull a long stress run in by
replacing that expression.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.figures import SECTIONS, section

# Modules that share a session-scoped fixture: scheduled as one unit so that it is built once.
_SHARED_SCOPES = {
    "tests/security/test_isolation.py": "tests/security/mediation session",
    "tests/security/test_at_rest.py": "tests/security/mediation session",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid).split("::", 1)[0]
            return _SHARED_SCOPES.get(scope, scope)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stress" in (config.getoption("markexpr", "") or ""):
        return
    stress = [item for item in items if item.get_closest_marker("stress") is not None]
    if stress:
        config.hook.pytest_deselected(items=stress)
        items[:] = [item for item in items if item.get_closest_marker("stress") is None]


def pytest_sessionfinish(session: pytest.Session) -> None:
    output = getattr(session.config, "workeroutput", None)
    if output is not None:  # a worker: hand its figures to the controller
        output["figures"] = json.dumps(SECTIONS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    for title, figures in json.loads(getattr(node, "workeroutput", {}).get("figures", "{}")).items():
        section(title).update(figures)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, figures in sorted(SECTIONS.items()):
        if figures:
            terminalreporter.section(title)
            for name, value in figures.items():
                terminalreporter.write_line(f"{name}: {value}")
