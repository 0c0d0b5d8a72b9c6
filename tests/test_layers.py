"""The domains form layers: no import of incident inside a function (but in the app factory and the CLI),
and the import-linter contracts in pyproject.toml are kept — a lower layer never imports a higher one (so
the domain packages have no import cycle) and only web modules import web modules."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The app factory and the CLI import late on purpose (blueprints, commands); nothing else may.
MAY_IMPORT_LATE = ("incident/__init__.py", "incident/setup.py", "incident/cli.py")
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def _imported_module(node: ast.AST) -> str | None:
    """The incident module an import statement imports, if it imports one (relative imports always do)."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return "." * node.level + (node.module or "")
        names = [node.module or ""]
    elif isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        return None
    return next((name for name in names if name == "incident" or name.startswith("incident.")), None)


def function_level_imports(root: Path) -> list[str]:
    """Every import of an incident module made inside a function under root/incident, as path:line."""
    found = set()
    for path in sorted((root / "incident").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in MAY_IMPORT_LATE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            for node in ast.walk(function):
                module = _imported_module(node)
                if module is not None:
                    found.add(f"{name}:{node.lineno} imports {module}")
    return sorted(found)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter's contracts from root/pyproject.toml on root/incident, in a process of its own."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, capture_output=True, text=True, timeout=300)


def test_no_module_imports_incident_inside_a_function():
    assert function_level_imports(ROOT) == []


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _copy_of_the_project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "incident", copy / "incident",
                    ignore=shutil.ignore_patterns("__pycache__", "translations", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    return copy


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")


def test_the_checks_catch_a_late_import(tmp_path):
    copy = _copy_of_the_project(tmp_path)
    before = function_level_imports(copy)
    module = copy / "incident/cases/service.py"
    line = len(module.read_text(encoding="utf-8").splitlines()) + 2
    _append(module, "def _late():\n    from incident.drafts import service  # noqa")
    assert set(function_level_imports(copy)) - set(before) == {
        f"incident/cases/service.py:{line} imports incident.drafts"}


def test_the_contracts_catch_an_upward_import_and_a_domain_importing_a_web_module(tmp_path):
    copy = _copy_of_the_project(tmp_path)
    _append(copy / "incident/cases/service.py", "import incident.drafts.service  # noqa")
    _append(copy / "incident/audit/chain.py", "import incident.labels  # noqa")
    _append(copy / "incident/drafts/context.py", "import incident.cases.views  # noqa")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    for importer, imported in (("incident.cases.service", "incident.drafts.service"),
                               ("incident.audit.chain", "incident.labels"),
                               ("incident.drafts.context", "incident.cases.views")):
        assert f"{importer} -> {imported}" in result.stdout, result.stdout
