"""Build hook: compile the gettext catalogs (.po → .mo) into the built package.

Compiled catalogs are build products, not sources: they are never committed.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    """build_py that also writes locales/<lang>/LC_MESSAGES/caucus.mo next to each .po."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo  # noqa: PLC0415 - a build requirement only
        from babel.messages.pofile import read_po  # noqa: PLC0415

        for po_path in Path(self.build_lib, "locales").glob("*/LC_MESSAGES/*.po"):
            language = po_path.parent.parent.name
            with po_path.open("rb") as source:
                catalog = read_po(source, locale=language)
            with po_path.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)


setup(cmdclass={"build_py": BuildWithCatalogs})
