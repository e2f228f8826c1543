"""Every third-party module the code imports is declared in pyproject.toml: termsvc/'s in the
dependencies, tests/'s and scripts/' in those or the test extras. A clean machine installs only what is
declared, so an import that works here only because another package brought it in would fail there."""
import ast
import importlib.metadata
import os
import re
import sys
import tomllib

import pytest

from conftest import PROJECT_DIR

PROJECT = tomllib.load(open(os.path.join(PROJECT_DIR, "pyproject.toml"), "rb"))["project"]
# module -> the distributions that install it, from what is installed here
DISTRIBUTIONS = importlib.metadata.packages_distributions()


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    """The distribution names of requirement strings ('flask>=3.0' -> 'flask')."""
    return {normalized(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def local_modules() -> set[str]:
    """What tests/ and scripts/ import from each other (conftest, synthetic_releases, test_x, ...)."""
    return {"termsvc"} | {f[:-3] for folder in ("tests", "scripts")
                          for f in os.listdir(os.path.join(PROJECT_DIR, folder)) if f.endswith(".py")}


def third_party_imports(folder: str) -> dict[str, str]:
    """Top-level module -> a file of `folder` that imports it (function-local imports too)."""
    found, local = {}, local_modules()
    for d, _, files in os.walk(os.path.join(PROJECT_DIR, folder)):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(d, f)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        found.setdefault(top, os.path.relpath(path, PROJECT_DIR))
    return found


@pytest.mark.parametrize("folder, extras", [("termsvc", ()), ("tests", ("test",)), ("scripts", ("test",))])
def test_every_import_is_declared(folder, extras):
    allowed = declared(PROJECT["dependencies"])
    for extra in extras:
        allowed |= declared(PROJECT["optional-dependencies"][extra])
    imports = third_party_imports(folder)
    assert imports, f"no third-party import found in {folder}/"
    undeclared = {}
    for module, where in sorted(imports.items()):
        distributions = DISTRIBUTIONS.get(module)
        if not distributions:
            undeclared[module] = f"{where}: no installed distribution provides it"
        elif not {normalized(d) for d in distributions} & allowed:
            undeclared[module] = f"{where}: provided by {', '.join(distributions)}, not declared"
    assert not undeclared, undeclared


def test_the_check_sees_what_is_imported():
    """The check above reads the imports: termsvc's known ones are found, and the standard library and
    the project's own modules are not taken for third-party ones."""
    imports = third_party_imports("termsvc")
    assert {"flask", "click", "cachetools", "urllib3", "werkzeug", "prometheus_client"} <= set(imports)
    assert not {"os", "sqlite3", "termsvc", "conftest"} & set(imports)
