"""The house: srwidgets' import graph has no cycles and no module reaches for another's private names.

The graph is read from the source with `ast`, not by importing: every `import` / `from ... import` anywhere in a
module counts, inside functions and `if TYPE_CHECKING:` blocks too (a cycle hidden in a function is still a
cycle: it just fails later). An edge goes from a module to each srwidgets module it names; `from pkg import name`
adds an edge to `pkg.name` when that is a module, else to `pkg` (whose `__init__` runs). A package's `__init__` importing its
submodules is an edge like any other, so a submodule importing a name from its own package's `__init__` closes a
cycle (it works only as long as the `__init__` happens to define that name before importing the submodule).

Two graphs: modules (no strongly connected component of more than one module), and top-level packages (`engine`,
`models`, `zoo`, ... and the top-level modules, the root `srwidgets/__init__.py` facade left out): the layers of
the package import each other one way only (the runtime imports no model catalogue, `zoo` -> `models` only).
"""
import ast
import pathlib

import srwidgets

ROOT = pathlib.Path(srwidgets.__file__).resolve().parent
PACKAGE = "srwidgets"


def _module_names():
    """{dotted module name: path} for every .py file in the package."""
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _is_package(name):
    return MODULES[name].name == "__init__.py"


def _resolve(module, level, target):
    """The absolute dotted name of a (possibly relative) import in `module`."""
    if level == 0:
        return target or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _owner(name):
    """The longest srwidgets module that `name` (a dotted path) lies in, or None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module):
    """[(imported module, imported name or None, line)] for every srwidgets import in `module`."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    owner = _owner(alias.name)
                    if owner:
                        found.append((owner, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module)
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in MODULES:                      # `from pkg import submodule`
                    found.append((full, None, node.lineno))
                else:
                    owner = _owner(source)
                    if owner:
                        found.append((owner, alias.name, node.lineno))
    return found


def import_graph():
    """{module: {imported module: first line}} for every srwidgets module."""
    graph = {name: {} for name in MODULES}
    for module in MODULES:
        for target, _, line in _imports(module):
            if target != module:
                graph[module].setdefault(target, line)
    return graph


def layer(module):
    """The top-level part of srwidgets a module belongs to: ``srwidgets.engine.windows`` -> ``srwidgets.engine``."""
    return ".".join(module.split(".")[:2])


def package_graph():
    """{layer: {imported layer: "module:line -> module" of the first such import}}, the root facade left out."""
    graph = {}
    for module in MODULES:
        if module == PACKAGE:
            continue
        graph.setdefault(layer(module), {})
        for target, _, line in _imports(module):
            if target != PACKAGE and layer(target) != layer(module):
                graph[layer(module)].setdefault(layer(target), f"{module}:{line} -> {target}")
    return graph


def strongly_connected(graph):
    """Tarjan's algorithm (iterative): the list of strongly connected components, each a sorted list."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycles(graph=None):
    graph = import_graph() if graph is None else graph
    return [c for c in strongly_connected(graph) if len(c) > 1]


def _describe(component, graph):
    members = set(component)
    lines = []
    for module in component:
        for target, where in sorted(graph[module].items()):
            if target in members:
                lines.append(f"  {module}:{where} -> {target}" if isinstance(where, int) else f"  {where}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# the checker checks itself on graphs whose answer is known by hand


def test_strongly_connected_finds_a_hand_made_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}, "e": {}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert sorted(map(tuple, strongly_connected(graph))) == [("a", "b", "c"), ("d",), ("e",)]


def test_strongly_connected_two_separate_cycles_and_a_self_free_chain():
    graph = {"a": {"b": 1}, "b": {"a": 1}, "c": {"d": 1}, "d": {"e": 1}, "e": {"c": 1}, "f": {"a": 1, "c": 1}}
    assert sorted(cycles(graph)) == [["a", "b"], ["c", "d", "e"]]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) == []


def test_graph_sees_imports_inside_functions_and_relative_ones():
    # the real package: a module known to import another inside a function body appears in the graph
    graph = import_graph()
    assert len(graph) == len(MODULES) > 50
    assert "srwidgets.batch.ray_backend" in graph["srwidgets.batch.runner"]   # a module-level import
    assert "srwidgets.metrics" in graph["srwidgets.batch.task"]               # one inside a function (quality)
    lazily = [m for m in MODULES if any(
        isinstance(n, (ast.Import, ast.ImportFrom)) and n.col_offset > 0
        for n in ast.walk(ast.parse(MODULES[m].read_text())))]
    assert lazily, "no module imports inside a function: the test would not see such imports"


def test_resolve_relative_imports():
    assert _resolve("srwidgets.batch.task", 1, "runner") == "srwidgets.batch.runner"
    assert _resolve("srwidgets.batch.task", 2, "engine") == "srwidgets.engine"
    assert _resolve("srwidgets.batch", 1, "runner") == "srwidgets.batch.runner"
    assert _resolve("srwidgets.batch", 2, "engine") == "srwidgets.engine"


# ---------------------------------------------------------------------------------------------------------------
# the house


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles (strongly connected components of the module import graph):\n" + "\n\n".join(
        _describe(c, graph) for c in found)


def test_the_layers_import_each_other_one_way():
    """Package level: engine (the runtime) imports no model catalogue, zoo -> models only, batch / cli / widgets
    above the engines, ... (a cycle between two packages, even through different modules, is refused)."""
    graph = package_graph()
    found = cycles(graph)
    assert not found, "cycles between srwidgets' packages:\n" + "\n\n".join(_describe(c, graph) for c in found)
    assert "srwidgets.models" not in graph["srwidgets.engine"], graph["srwidgets.engine"]["srwidgets.models"]
    assert "srwidgets.zoo" not in graph["srwidgets.models"], graph["srwidgets.models"]["srwidgets.zoo"]


def test_no_private_names_across_modules():
    """No `from x import _name` from another srwidgets module, a package's `__init__` re-exporting included (dunder
    names such as `__version__` are public); a package's private helper module (`cli/_common.py`, `models/_common.py`)
    serves that package's own modules only."""
    offences = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name is None or target == module:
                continue
            if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                offences.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} imports {target}.{name}")
        # `import srwidgets.x._private` as a module is a private module: count it as well
        for target, name, line in _imports(module):
            if name is None and target != module and any(
                    p.startswith("_") and not p.startswith("__") for p in target.split(".")[1:]):
                if not _same_package(module, target):
                    offences.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} imports module {target}")
    assert not offences, "private names used across modules:\n" + "\n".join(offences)


def _same_package(module, target):
    """A package's private helper module (cli/_common.py) is for that package's own modules."""
    package = target.rsplit(".", 1)[0]
    return module == package or module.startswith(package + ".")
