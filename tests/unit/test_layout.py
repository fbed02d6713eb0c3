"""The kernel (``shared/``) depends on nothing above it; the launcher on everything.

``shared/`` must import nothing from ``gateway/``, ``services/`` or ``eyhub/`` — neither
by import statement nor by module name handed to ``importlib`` (the launcher passes
the kernel apps, handlers, jobs, commands and migration folders instead). And nothing
but the launcher itself (and tests, deploy tooling) may import the launcher.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPPER = ("gateway", "services", "eyhub")
#: A string that names a module of an upper layer, e.g. "services.bookings.handlers"
#: ("eyhub.*" strings are logger names, and the launcher is imported by statement).
MODULE_NAME = re.compile(r"^(gateway|services)\.\w")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if MODULE_NAME.match(node.value):
                found.append((node.lineno, f"module name string {node.value!r}"))
        elif isinstance(node, ast.JoinedStr):  # f"services.{name}.handlers"
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and str(head.value).startswith(
                ("services.", "gateway.")
            ):
                found.append((node.lineno, f"module name f-string {head.value!r}..."))
    return found


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in forbidden or name.startswith("module name"):
                out.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    return out


def test_the_kernel_imports_nothing_from_gateway_services_or_the_launcher() -> None:
    assert _offenders("shared", UPPER) == []


def test_components_do_not_depend_on_the_launcher() -> None:
    for folder in ("gateway", "services"):
        found = [o for o in _offenders(folder, ("eyhub",)) if "module name" not in o]
        assert found == [], folder


def test_the_checker_catches_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\nfrom services.bookings import jobs\n"
        'x = importlib.import_module(f"services.{1}.handlers")\n'
        'COMMANDS = ["gateway.cli"]\n'
    )
    names = [name for _, name in _imports(sample)]
    assert "services.bookings" in names
    assert any("f-string" in n for n in names)
    assert any("'gateway.cli'" in n for n in names)
