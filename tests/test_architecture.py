"""The rooms and which way they depend: qa <- index <- service <- train <- bench <- tests.

Each room imports only the rooms before it (and itself); the product (qa, index, service) never
imports web code below service, and nothing the product imports builds or measures models. No
two of the project's modules import each other, directly or round a longer circle, counting
imports inside functions too: a circle makes the order modules load in decide what works.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("qa", "index", "service", "train", "bench", "tests")
# Third-party packages a room must not import: web code stays in service, model-building
# libraries in train (bench measures, it does not fit or train).
FORBIDDEN_LIBRARIES = {
    "qa": {"fastapi", "pydantic", "pydantic_settings", "starlette", "faiss"},
    "index": {"fastapi", "pydantic", "pydantic_settings", "starlette"},
    "bench": {"torch", "transformers", "sklearn", "scipy", "onnx"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for room in ROOMS
    for path in sorted((ROOT / room).rglob("*.py"))
    if "data" not in path.relative_to(ROOT / room).parts[:-1]
}


def imports(path: Path) -> tuple[set[str], set[str]]:
    """The project modules ``path`` imports (a package's ``__init__`` counts as the package,
    which ``from package import submodule`` runs too) and the other top-level packages it
    imports, at any depth of the file."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    project: set[str] = set()
    libraries: set[str] = set()

    def add(name: str) -> None:
        if name.split(".")[0] not in ROOMS:
            libraries.add(name.split(".")[0])
            return
        parts = name.split(".")
        for n in range(1, len(parts) + 1):  # every package on the way runs
            if ".".join(parts[:n]) in MODULES:
                project.add(".".join(parts[:n]))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    add(f"{base}.{alias.name}")
    project.discard(module_name(path))
    return project, libraries


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def test_every_room_is_found() -> None:
    assert {name.split(".")[0] for name in MODULES} == set(ROOMS)
    assert "train.reader.build" in MODULES and "index.stores" in MODULES


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_the_rooms_before_it(room: str) -> None:
    allowed = set(ROOMS[: ROOMS.index(room) + 1])
    for name, (project, libraries) in GRAPH.items():
        if name.split(".")[0] != room:
            continue
        wrong = {m for m in project if m.split(".")[0] not in allowed}
        assert not wrong, f"{name} imports {sorted(wrong)}"
        banned = libraries & FORBIDDEN_LIBRARIES.get(room, set())
        assert not banned, f"{name} imports {sorted(banned)}"


def test_no_import_circle() -> None:
    """graphlib orders the modules so each comes after what it imports; a circle cannot be
    ordered, and the error names it."""
    graph = {name: project for name, (project, _) in GRAPH.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")


def test_imports_inside_functions_count() -> None:
    """The factory loads the PostgreSQL store only when asked for it: an edge all the same."""
    assert "index.postgres_store" in GRAPH["index.stores"][0]
    assert "index.stores" not in GRAPH["index.postgres_store"][0]


def test_the_old_store_circle_would_be_found() -> None:
    """Were the store protocol to import the factory again (it did, to pick PostgreSQL), the
    graph would hold a circle."""
    graph = {name: set(project) for name, (project, _) in GRAPH.items()}
    graph["index.store"].add("index.stores")
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(graph).static_order())
