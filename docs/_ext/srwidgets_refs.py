"""Resolve the docstrings' cross-references to where the API reference documents the object.

The reference documents each public name once, where users import it (``srwidgets.engine.guarded``,
``srwidgets.cem.CEM``), while docstrings often name the defining module (``srwidgets.engine.guard.guarded``,
:mod:`srwidgets.cem.engine`) or a bare name imported into the module (``InputError``). Both are correct Python;
this extension links them to the one documented object:

* an object reference resolves to the documented object with the same last name whose dotted path shares the most
  leading parts with the reference (or, for a bare name, with the module the docstring is in), when exactly one
  object is best;
* a module reference to an undocumented submodule resolves to its nearest documented parent package.

* a reference to a real srwidgets object the reference does not document (a module constant such as
  ``OBJECTIVES``, a helper of a submodule) renders as unlinked code: it is checked to exist by importing it.

Anything else stays a nitpicky warning (an error under ``-W``): a reference to a name that exists nowhere in the
package is a real defect (a typo, a renamed function).
"""
from __future__ import annotations

import importlib
import re

from sphinx.util.nodes import make_refnode


def _shared(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _exists(dotted: str) -> bool:
    """Whether ``srwidgets.x.y.NAME`` (a module, or an attribute reached from the longest importable module)
    exists."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _docstring_owner(node) -> str:
    """``srwidgets.viz.images.blend`` for a reference in that function's docstring (documented as
    ``srwidgets.viz.blend``): autodoc records the defining object in the node's source."""
    while node is not None:
        match = re.search(r"docstring of (srwidgets[\w.]*)", node.source or "")
        if match:
            return match.group(1)
        node = node.parent
    return ""


def _existing(node, target: str) -> bool:
    if "." in target:
        return target.startswith("srwidgets") and _exists(target)
    scopes = [node.get("py:module") or "srwidgets"]
    if node.get("py:class"):
        scopes.insert(0, f"{scopes[0]}.{node['py:class']}")
    owner = _docstring_owner(node).split(".")
    scopes += [".".join(owner[:i]) for i in range(len(owner), 1, -1)]  # the docstring's own class, module, ...
    return any(_exists(f"{scope}.{target}") for scope in scopes)


def _resolve(app, env, node, contnode):
    found = _link(app, env, node, contnode)
    if found is None and _existing(node, node.get("reftarget", "").lstrip("~.")):
        return contnode
    return found


def _link(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    if not target.startswith("srwidgets") and "." in target:
        return None  # another project's name (torch.Tensor): nitpick_ignore decides
    domain = env.get_domain("py")
    objects = domain.objects
    if node.get("reftype") == "mod":
        parts = target.split(".")
        while len(parts) > 1:
            parts.pop()
            entry = objects.get(".".join(parts))
            if entry is not None and entry.objtype == "module":
                return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                                    ".".join(parts))
        return None
    last = target.rsplit(".", 1)[-1]
    anchor = target.split(".") if "." in target else (node.get("py:module") or "srwidgets").split(".") + [last]
    best, best_score = [], -1
    for name, entry in objects.items():
        if entry.objtype == "module" or name.rsplit(".", 1)[-1] != last or getattr(entry, "aliased", False):
            continue
        score = _shared(name.split("."), anchor)
        if score > best_score:
            best, best_score = [(name, entry)], score
        elif score == best_score:
            best.append((name, entry))
    if len(best) != 1 or best_score < 1:
        return None
    name, entry = best[0]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
