"""nstlib's architecture, checked: imports point one way, no module reaches into another's private names.

The layers, lowest first (a module may import from its own layer and the ones below, never above):

    0  errors, version                      what every module may raise or print
    1  device, net.layers, net.conventions  where tensors live; VGG's layer table; how images become input
    2  images                               loading, checking, resizing, saving pictures
    3  weights                              where a network's numbers come from (sources table, loaders, cache)
    4  net                                  the feature extractors (VGG, Inception)
    5  loss                                 content, style and TV losses, style statistics, the objective
    6  optim                                the one optimisation loop, the stage schedule, memory estimates
    7  algorithms                           stylize, reconstruct, texture, DeepDream, feed-forward nets, colour
    8  course, bench, cli                   lessons, widgets, checkers, gallery; benchmarks; the command line
    9  nstlib (the public API), __main__

The test reads the source with ``ast`` (nothing is imported), so it also sees imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

NSTLIB = Path(__file__).resolve().parents[1] / "nstlib"

# Most specific prefix first.
RANKS: list[tuple[str, int]] = [
    ("nstlib.errors", 0),
    ("nstlib.version", 0),
    ("nstlib.device", 1),
    ("nstlib.net.layers", 1),
    ("nstlib.net.conventions", 1),
    ("nstlib.images", 2),
    ("nstlib.weights", 3),
    ("nstlib.net", 4),
    ("nstlib.loss", 5),
    ("nstlib.optim", 6),
    ("nstlib.algorithms", 7),
    ("nstlib.course", 8),
    ("nstlib.bench", 8),
    ("nstlib.cli", 8),
    ("nstlib.__main__", 9),
    ("nstlib", 9),
]
LONGEST_MODULE = 420  # lines; "about 400"


def rank(module: str) -> int:
    for prefix, value in RANKS:
        if module == prefix or module.startswith(prefix + "."):
            return value
    raise AssertionError(f"{module} is in no layer: add it to RANKS and to this file's docstring")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(NSTLIB.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(NSTLIB.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports(name: str) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every nstlib import in ``name``'s source."""
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    package = name if is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "nstlib"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "nstlib":
                continue
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{source}.{n}" in MODULES]
            found += [(node.lineno, f"{source}.{n}", []) for n in submodules]
            rest = [n for n in names if n not in submodules]
            if rest:
                found.append((node.lineno, source, rest))
    return found


def private_module(name: str) -> str | None:
    """The package a module is private to (``nstlib.course.check`` for ``nstlib.course.check._core``), or None."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_every_module_is_in_a_layer():
    assert len(MODULES) > 40  # the walk found the package
    for name in MODULES:
        rank(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    wrong = [
        f"line {line}: {name} (layer {rank(name)}) imports {target} (layer {rank(target)})"
        for line, target, _ in imports(name)
        if rank(target) > rank(name)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_across_modules(name):
    wrong = []
    for line, target, names in imports(name):
        owner = private_module(target)
        if owner is not None and not (name == owner or name.startswith(owner + ".")):
            wrong.append(f"line {line}: imports the private module {target} from outside {owner}")
        wrong += [
            f"line {line}: imports {target}'s private name {n}"
            for n in names
            if n.startswith("_") and not n.startswith("__")
        ]
    tree = ast.parse(MODULES[name].read_text())
    aliases = {
        a.asname or a.name.split(".")[0]: a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for a in node.names
        if a.name.startswith("nstlib")
    }
    aliases.update(
        {
            a.asname or a.name: f"{node.module}.{a.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nstlib")
            for a in node.names
            if f"{node.module}.{a.name}" in MODULES
        }
    )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            wrong.append(f"line {node.lineno}: uses {aliases[node.value.id]}.{node.attr}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = {name: {t for _, t, _ in imports(name) if t in MODULES and t != name} for name in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= LONGEST_MODULE, f"{name} has {lines} lines; split it by concept (at most {LONGEST_MODULE})"


def test_stylize_reads_top_down():
    """stylize's body (after its docstring) stays short: keywords into Goal and Execution, then five steps."""
    tree = ast.parse((NSTLIB / "algorithms" / "transfer.py").read_text(encoding="utf-8"))
    (stylize,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "stylize"]
    body = stylize.end_lineno - stylize.body[0].end_lineno
    assert body <= 60, f"stylize's body has {body} lines (at most 60): move a step into a named function"
    assert "Goal(" in ast.unparse(stylize) and "Execution(" in ast.unparse(stylize)


def test_the_checks_catch_what_they_guard(tmp_path):
    """Each rule above fails on a small package that breaks it."""
    fake = tmp_path / "nstlib"
    (fake / "loss").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "errors.py").write_text("")
    (fake / "loss" / "__init__.py").write_text("")
    (fake / "loss" / "a.py").write_text("from nstlib.algorithms.b import run\nfrom nstlib.loss import c\n")
    (fake / "loss" / "c.py").write_text("from nstlib.loss.a import _private\n")
    (fake / "algorithms").mkdir()
    (fake / "algorithms" / "__init__.py").write_text("")
    (fake / "algorithms" / "b.py").write_text("import nstlib.loss.c as c\nc._hidden()\n")
    global NSTLIB, MODULES
    saved = NSTLIB, MODULES
    NSTLIB = fake
    MODULES = {module_name(p): p for p in sorted(fake.rglob("*.py"))}
    try:
        with pytest.raises(AssertionError, match="layer 5.*imports nstlib.algorithms.b .layer 7"):
            test_imports_point_down("nstlib.loss.a")
        with pytest.raises(AssertionError, match="private name _private"):
            test_no_private_names_across_modules("nstlib.loss.c")
        with pytest.raises(AssertionError, match=r"uses nstlib.loss.c._hidden"):
            test_no_private_names_across_modules("nstlib.algorithms.b")
        with pytest.raises(AssertionError, match="import cycle: .*nstlib.loss.c -> nstlib.loss.a"):
            test_no_import_cycles()
        (fake / "loss" / "c.py").write_text("x = 1\n" * (LONGEST_MODULE + 1))
        with pytest.raises(AssertionError, match="split it by concept"):
            test_modules_stay_small("nstlib.loss.c")
    finally:
        NSTLIB, MODULES = saved
