"""The layout has no knots: imports between top-level parts go one way, and nothing outside tests/ imports tests.

The graph is built from the source with `ast` (every import statement, including those inside functions), so
an import that only runs on one code path still counts. Parts: the core (speechsense/), server, client,
training, export, models and benchmarks (benchmarks/research/ included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FOLDERS = {"speechsense": "core", "server": "server", "client": "client", "training": "training",
           "export": "export", "models": "models", "benchmarks": "benchmarks"}
SUBPACKAGES = {"server", "client", "training", "export", "models"}  # speechsense.<name> -> folder <name>
TEST_MODULES = {p.stem for p in (REPO / "tests").rglob("*.py")}
BENCH_MODULES = {p.stem for p in (REPO / "benchmarks").rglob("*.py")}
# Layers that must not import each other upward: core < training < export.
LAYERS = ("core", "training", "export")
FRONT_DOOR = REPO / "speechsense" / "__init__.py"  # re-exports the Python client: `from speechsense import Client`


def source_files() -> dict[Path, str]:
    """Every .py file of the parts, with the part it belongs to."""
    files = {}
    for folder, part in FOLDERS.items():
        for path in (REPO / folder).rglob("*.py"):
            if not path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                files[path] = part
    return files


def imported_names(tree: ast.AST) -> list[tuple[str, int]]:
    """Absolute module names imported anywhere in a module, with their line numbers."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.module, node.lineno))
    return names


def part_of(module: str, importer: str) -> str | None:
    """The part a module name lands in; 'tests' for test modules; None for third-party modules."""
    head, _, rest = module.partition(".")
    if head == "tests" or (importer == "benchmarks" and head in TEST_MODULES - BENCH_MODULES):
        return "tests"  # a bare name of a tests/ module: on the path for pytest (pythonpath), for no script
    if head == "speechsense":
        sub = rest.partition(".")[0]
        return FOLDERS[sub] if sub in SUBPACKAGES else "core"
    if importer == "benchmarks" and head in BENCH_MODULES:
        return "benchmarks"
    return None


def edges() -> dict[tuple[str, str], list[str]]:
    """(importer part, imported part) -> where, for every import that crosses parts."""
    found: dict[tuple[str, str], list[str]] = {}
    for path, part in source_files().items():
        for module, line in imported_names(ast.parse(path.read_text(), str(path))):
            target = part_of(module, part)
            if path == FRONT_DOOR and target == "client":
                continue  # speechsense.Client, imported on first use (see the test of the front door)
            if target is not None and target != part:
                found.setdefault((part, target), []).append(f"{path.relative_to(REPO)}:{line} {module}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's nodes, found by a depth-first search from each node (the graph is tiny)."""
    out = []

    def walk(start: str, node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                out.append(trail)
            elif nxt not in trail and nxt > start:
                walk(start, nxt, trail + [nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return out


def test_the_graph_sees_real_imports():
    """Guards the checker itself: known one-way edges must be found, or the other tests prove nothing."""
    found = edges()
    assert ("server", "core") in found
    assert ("export", "training") in found
    assert ("benchmarks", "server") in found
    assert part_of("synth", "benchmarks") == "tests"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


def test_no_cycle_between_top_level_parts():
    found = edges()
    graph: dict[str, set[str]] = {}
    for a, b in found:
        graph.setdefault(a, set()).add(b)
    loops = cycles(graph)
    where = [found[(loop[i], loop[(i + 1) % len(loop)])][0] for loop in loops for i in range(len(loop))]
    assert not loops, f"import cycles {loops}; e.g. {where}"


@pytest.mark.parametrize("low", LAYERS[:-1])
def test_core_training_export_import_one_way(low):
    higher = LAYERS[LAYERS.index(low) + 1:]
    wrong = {k: v for k, v in edges().items() if k[0] == low and k[1] in higher}
    assert not wrong, f"{low} imports a higher layer: {wrong}"


def test_core_imports_no_other_part():
    wrong = {k: v for k, v in edges().items() if k[0] == "core"}
    assert not wrong, f"the core imports other parts: {wrong}"


def test_the_front_door_loads_the_client_only_when_asked():
    """`from speechsense import Client` works, yet importing the core loads none of the client (edges() skips it)."""
    import subprocess
    import sys

    code = "import sys, speechsense; before = 'speechsense.client' in sys.modules; speechsense.Client; print(before)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_nothing_outside_tests_imports_tests():
    wrong = {k: v for k, v in edges().items() if k[1] == "tests"}
    assert not wrong, f"imports of tests/ from outside it: {wrong}"


def module_imports(path: Path) -> set[str]:
    return {name for name, _ in imported_names(ast.parse(path.read_text(), str(path)))}


def test_only_the_grpc_adapter_and_app_speak_grpc_inside_the_server():
    """The analyzer and web transports are free of gRPC: a new transport is one adapter over the analyzer."""
    speaking = {p.name for p in (REPO / "server").glob("*.py")
                if any(m == "grpc" or m.startswith(("grpc.", "grpc_")) for m in module_imports(p))}
    assert speaking == {"grpc_service.py", "app.py", "auth.py", "probe.py"}  # probe: the gRPC health check CLI


@pytest.mark.parametrize("name", ["web.py", "web_stream.py", "web_json.py"])
def test_the_web_path_never_builds_protobuf_bytes(name):
    source = (REPO / "server" / name).read_text()
    assert "SerializeToString" not in source and "FromString" not in source
    assert "speechsense.server.analyzer" in module_imports(REPO / "server" / name) or name == "web_json.py"
