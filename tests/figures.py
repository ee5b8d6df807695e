"""The figures the security and reliability suites hold, by section; printed at the end of a run (tests/conftest.py),
also when the tests ran on several workers."""

from __future__ import annotations

SECTIONS: dict[str, dict[str, str]] = {}


def section(title: str) -> dict[str, str]:
    """The figures (name -> value) printed under ``title``; a suite adds to it."""
    return SECTIONS.setdefault(title, {})
