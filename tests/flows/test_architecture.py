"""The domain stays pure: importing `flows` loads neither Telegram nor the ORM."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import flows


def test_flows_imports_neither_telegram_nor_sqlalchemy() -> None:
    """Every module of `flows`, imported in a fresh interpreter, leaves telegram and sqlalchemy unloaded."""
    modules = [f"flows.{info.name}" for info in pkgutil.iter_modules(flows.__path__)]
    assert len(modules) >= 6
    code = (
        f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'telegram', 'sqlalchemy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
