"""Dependencies run one way: data -> model -> query -> train -> tracking -> Forecaster / cli / demo.

Every module under ``tsloop/`` is parsed (imports inside functions included: they hide cycles
from Python but not from a reader), and the test fails on an import of a higher layer or on
any import cycle. A new module must be given a layer in ``LAYERS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tsloop"

# lowest first; a module belongs to the longest prefix that names it
LAYERS = (
    ("base", ("tsloop.errors", "tsloop.version", "tsloop.output", "tsloop.metrics", "tsloop.bundle",
              "tsloop.quiet")),
    ("data", ("tsloop.data", "tsloop.sim")),
    ("model", ("tsloop.model",)),
    ("query", ("tsloop.query", "tsloop.plots", "tsloop.probe")),
    ("train", ("tsloop.train",)),
    ("tracking", ("tsloop.tracking",)),
    ("apps", ("tsloop.forecaster", "tsloop.cli", "tsloop.demo", "tsloop")),
)


def module_names() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c` imports module a.b.c when c is one, else a name of a.b
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import tsloop.x.y` where y is a name: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer_of(name: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{name} has no layer: add it to LAYERS in tests/test_layering.py"
    return rank


def graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_when_the_package_is_parsed_then_no_module_imports_a_higher_layer():
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "upward imports:\n  " + "\n  ".join(upward)


def test_when_the_package_is_parsed_then_no_import_cycle_exists():
    found = cycles(graph())
    assert not found, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in found)


def test_when_a_cycle_or_an_upward_import_exists_then_the_checks_see_it():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("tsloop.train.fit") > layer_of("tsloop.model.core")
    assert layer_of("tsloop.forecaster") > layer_of("tsloop.tracking.store")
    edges = graph()
    assert "tsloop.data.spec" in edges["tsloop.data.task"]  # module-level import
    assert "tsloop.forecaster" in edges["tsloop.cli.forecast"]  # import inside a function


def test_when_pipelines_are_parsed_then_they_import_no_private_library_name():
    """Pipelines compose the public API; a private name they need belongs in the library's API."""
    private = []
    for path in sorted((PACKAGE.parent / "pipelines").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tsloop"):
                private += [f"{path.name}:{node.lineno} {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.endswith("__")]  # dunders are public
    assert not private, "private names imported by pipelines:\n  " + "\n  ".join(private)
