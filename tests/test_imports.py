"""The house of gaputils: every module sits on a floor, imports only from floors below it, at the
top of the file - no import circles, none inside a function to dodge one - and every module is
on a floor. Third-party imports (ipywidgets, jupytext, ...) may stay inside functions: they are
optional. Read from the source with ``ast``; nothing is imported."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1] / "gaputils"

# Bottom to top. A subpackage is one module here (its files import each other freely, below
# their own __init__); train/__main__.py is the command line, on top.
FLOORS = [
    {"_version", "runtime", "stats", "params", "papers", "models", "ghost", "sam", "walk"},
    {"data", "batches", "selection", "evalnorm"},
    {"ggn"},
    {"plan", "hessian", "landscape", "noise_scale"},
    {"sharpness", "reparam", "remedies"},
    {"distributed"},
    {"train"},
    {"cache", "testbed"},
    {"workers"},
    {"budget"},
    {"runs"},
    {"gaps", "flatness", "stability", "scaling", "arms"},
    {"study"},
    {"scores"},
    {"questions"},
    {"plots"},
    {"reference", "widgets"},
    {"reproduce", "train.__main__"},
    {"__init__"},
]
FLOOR = {m: i for i, floor in enumerate(FLOORS) for m in floor}


def unit(path: Path) -> str:
    """The module's name on the floors: a subpackage's files are the subpackage."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts
    if parts == ("train", "__main__"):
        return "train.__main__"
    return parts[0] if len(parts) > 1 else parts[0]


def targets(node: ast.AST, path: Path) -> list[str]:
    """The gaputils modules (units) an import statement names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("gaputils.")]
        return [n.split(".")[1] for n in names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        return [node.module.split(".")[1]] if (node.module or "").startswith("gaputils.") else []
    package = path.relative_to(ROOT).parent.parts  # where "." points
    base = list(package[:len(package) - (node.level - 1)]) if node.level > 1 else list(package)
    if node.module:
        full = base + node.module.split(".")
        return [full[0]] if full else []
    if base:  # "from . import x" inside a subpackage: its own files
        return [base[0]]
    return [a.name for a in node.names]


def imports() -> list[tuple[str, str, bool, Path]]:
    """(importer, imported, inside a function?, file) for every gaputils-internal import."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "results" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            for t in targets(node, path):
                out.append((unit(path), t, id(node) not in top, path))
    return out


def test_every_module_is_on_a_floor():
    units = {unit(p) for p in ROOT.rglob("*.py") if "results" not in p.parts}
    assert units - set(FLOOR) == set(), "put these modules on a floor in FLOORS"
    assert set(FLOOR) - units == set(), "these floors name modules that do not exist"


def test_nothing_imports_upward_or_sideways_and_nothing_inside_a_function():
    bad = []
    for src, dst, inner, path in imports():
        if src == dst:
            continue  # a subpackage's files among themselves
        if inner:
            bad.append(f"{path.relative_to(ROOT)}: imports {dst} inside a function")
        elif FLOOR[dst] >= FLOOR[src]:
            bad.append(f"{path.relative_to(ROOT)} (floor {FLOOR[src]}) imports {dst} "
                       f"(floor {FLOOR[dst]})")
    assert not bad, "\n".join(bad)


def test_the_import_graph_has_no_circle():
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in imports():
        if src != dst:
            graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError(f"import circle: {' -> '.join(trail + [node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])
