"""The README stays true: its diagrams are the machines' own, its commands are the ones CI runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _diagrams_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("diagrams", ROOT / "scripts" / "diagrams.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_diagrams_match_the_machine_declarations() -> None:
    """Regenerating the Mermaid diagrams from flows/ changes nothing in README.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _diagrams_module().render(readme) == readme, "run: python scripts/diagrams.py"


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the exact test command the README gives."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python -m pytest'
    assert command in readme
    assert command in ci
