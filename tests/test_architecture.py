"""The structure docs/architecture.md describes, checked on the source: one-way
arrows between the rooms, no import cycle, no private name used outside its module, SQL only in
the store and the query engine, settings read only through termsvc.settings, modules of a
readable size."""
import ast
import os
import re

import pytest

from conftest import PROJECT_DIR

PACKAGE = os.path.join(PROJECT_DIR, "termsvc")
MAX_LINES = 600

# room -> the rooms it may import (a room is a subpackage or top-level module of termsvc; the
# package itself, which only holds its description, may be imported by any)
ALLOWED = {
    "deadline": set(),
    "files": set(),       # opening what a user names as a file, never blocking on a fifo (termsvc.files)
    "settings": set(),
    "content": set(),
    "results": set(),     # the operations' typed answers: made by ops, rendered by fhir, read by the callers
    "fhir": {"results"},
    "store": {"files", "fhir", "settings", "deadline"},
    "ops": {"store", "fhir", "deadline", "results"},
    "loaders": {"files", "store", "fhir", "mappings", "content", "settings"},
    "templates": set(),   # the HTML pages and reports (Jinja2)
    "mappings": {"files", "ops", "store", "fhir", "templates", "results"},
    "bindings": {"files", "ops", "store", "fhir", "templates"},
    # mapping suggestions: a service over the engine (its expansions), the store (an in-memory index)
    # and the mapping tables (evidence, writing a table back)
    "suggest": {"ops", "store", "fhir", "mappings", "deadline", "results"},
    "build": {"loaders", "ops", "store"},
    # the admin API (api.admin, api.jobs) checks uploaded mapping tables and rebuilds
    "api": {"ops", "store", "fhir", "settings", "deadline", "build", "mappings", "content", "suggest", "templates",
            "results"},
    # the client over HTTP: requests and the standard library (and the typed answers' Issue, a FHIR conversion
    # table); never the server (tests/test_client.py imports it with the server's modules blocked)
    "client": {"fhir", "results"},
    # the client's operations answered in process, by the engine
    "local_client": {"client", "ops", "store", "fhir", "settings", "results"},
    "pull": {"files", "store", "settings"},
    # ImagingStudy resources claim the IG's profile (bindings.facts: the IG's canonical bases)
    "dicom_codes": {"files", "settings", "client", "local_client", "mappings", "bindings"},
    "cli": {"files", "build", "api", "loaders", "mappings", "ops", "store", "fhir", "settings", "content", "deadline", "client",
            "local_client", "dicom_codes", "pull", "bindings", "suggest", "templates", "results"},
}
# (a common table expression as SQL writes it: `WITH name AS (` - not the English word "with")
SQL = re.compile(r"^\s*((SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT"
                 r"|ANALYZE)\b|WITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\s*\()", re.IGNORECASE)


def modules() -> dict[str, str]:
    out = {}
    for d, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, PROJECT_DIR)[:-3].replace(os.sep, ".")
                out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()
TREES = {name: ast.parse(open(path, encoding="utf-8").read()) for name, path in MODULES.items()}


def room(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def imports(name: str):
    """(imported module, imported names) of every import in a module, function-local ones too."""
    package = name if MODULES[name].endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            names = tuple(a.name for a in node.names if f"{base}.{a.name}" not in MODULES)
            yield from ((m, ()) for m in submodules)
            if names or not submodules:
                yield base, names


def graph() -> dict[str, set]:
    return {name: {m for m, _ in imports(name) if m in MODULES and m != name} for name in MODULES}


def cycles(edges: dict[str, set]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_modules():
    assert cycles(graph()) == []


def test_no_cycle_between_rooms_and_arrows_point_one_way():
    wrong = sorted({(name, m) for name, targets in graph().items() for m in targets
                    if m != "termsvc" and room(m) != room(name) and room(m) not in ALLOWED[room(name)]})
    assert wrong == []
    rooms = {r: {room(m) for name, targets in graph().items() if room(name) == r for m in targets}
             - {r, "termsvc"} for r in ALLOWED}
    assert cycles(rooms) == []


def test_no_private_name_used_outside_its_module():
    found = []
    for name, tree in TREES.items():
        for module, names in imports(name):
            if module in MODULES and module != name:
                found += [(name, f"{module}.{n}") for n in names if n.startswith("_") and not n.startswith("__")]
        for node in ast.walk(tree):   # obj._name on anything but self / cls
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                    and not (isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "super")):
                found.append((name, f"{ast.unparse(node.value)}.{node.attr}"))
    assert found == []


def test_sql_only_in_the_store_and_the_query_engine():
    found = []
    for name, tree in TREES.items():
        if room(name) in ("store", "ops"):
            continue
        for node in ast.walk(tree):
            # every SQL statement is written as a string (or the start of an f-string) somewhere
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
                found.append((name, node.lineno, node.value[:40]))
    assert found == []


def test_settings_are_read_only_through_the_settings_module():
    found = []
    for name, tree in TREES.items():
        if name == "termsvc.settings":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                    and getattr(node.value, "id", "") == "os":
                parent_ok = name == "termsvc.api.server"   # hands the settings to the server's workers
                if not parent_ok:
                    found.append((name, node.lineno))
    assert found == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    with open(MODULES[name], encoding="utf-8") as f:
        assert sum(1 for _ in f) <= MAX_LINES


def test_one_json_library_and_dataclasses_for_slots():
    found = []
    for name, tree in TREES.items():
        for module, _ in imports(name):
            if module == "json":
                found.append((name, "import json: use orjson"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__slots__" for t in node.targets):
                found.append((name, node.lineno, "__slots__: use @dataclass(slots=True)"))
    assert found == []


def defined(kind, name: str) -> list[str]:
    """The modules that define a class or function `name` at their top level."""
    return sorted(module for module, tree in TREES.items()
                  for node in tree.body if isinstance(node, kind) and node.name == name)


def calls_of(attribute: str) -> set[str]:
    """The modules that call a method or function named `attribute` (x.attribute(...) or attribute(...))."""
    return {module for module, tree in TREES.items() for node in ast.walk(tree)
            if isinstance(node, ast.Call) and attribute in (getattr(node.func, "attr", None), getattr(node.func, "id", None))}


def test_each_concern_is_defined_in_its_room():
    # the build's contract with its loaders beside them (the build re-exports BuildError), never in the store
    assert defined(ast.ClassDef, "BuildError") == ["termsvc.loaders.protocol"]
    assert defined(ast.ClassDef, "BuildState") == ["termsvc.loaders.protocol"]
    # the hash of a build file: the store's (build, pull, info, /metrics and the admin jobs read it there)
    assert defined(ast.FunctionDef, "build_sha256") == ["termsvc.store.digest"]
    assert defined(ast.FunctionDef, "file_sha256") == ["termsvc.store.digest"]
    # value sets and instance ids are resolved by the engine's context, for every operation
    assert defined(ast.FunctionDef, "resolve_value_set") == []   # (a method of ops.context.Context only)
    assert {m for m in calls_of("resolve_value_set") if room(m) != "ops"} == set()
    # an operation's instance id (CodeSystem/ID/$lookup, ValueSet/ID/$expand, ...) is looked up in ops.context;
    # the REST read (api.app) reads the resource itself
    assert calls_of("resource_by_fhir_id") == {"termsvc.ops.context", "termsvc.api.app"}
    # one cli module per command group: serve apart from build
    assert defined(ast.FunctionDef, "serve_cmd") == ["termsvc.cli.serve"]


def test_loaders_keep_their_state_in_the_typed_build_state():
    """Every loader of the build is a Loader (FinishingLoader when it has a step after every source), and
    none keeps state on the writer (the store knows nothing of the loaders)."""
    import inspect

    from termsvc.build import LOADERS
    from termsvc.loaders.protocol import FinishingLoader
    for kind, loader in LOADERS.items():
        load = inspect.signature(loader.load)
        takes_state = "state" in load.parameters or any(p.kind is p.VAR_KEYWORD for p in load.parameters.values())
        assert takes_state, kind
        if hasattr(loader, "finish"):
            assert isinstance(loader, FinishingLoader) and list(inspect.signature(loader.finish).parameters) == \
                ["writer", "progress", "state"], kind
    assert [kind for kind, loader in LOADERS.items() if isinstance(loader, FinishingLoader)] == ["mappings"]
    assert {m for m in MODULES if any(isinstance(node, ast.Attribute) and node.attr == "state"
                                      and getattr(node.value, "id", "") == "writer" for node in ast.walk(TREES[m]))} \
        == set()
