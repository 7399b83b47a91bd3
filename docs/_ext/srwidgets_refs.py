"""Resolve the docstrings' cross-references to where the API reference documents the object.

The reference documents each public name once, where users import it (``srwidgets.engine.guarded``,
``srwidgets.cem.CEM``), while docstrings often name the defining module (``srwidgets.engine.guard.guarded``,
:mod:`srwidgets.cem.engine`) or a bare name imported into the module (``InputError``). Both are correct Python;
this extension links them to the one documented object:

* an object reference resolves to the documented object with the same last name whose dotted path shares the most
  leading parts with the reference (or, for a bare name, with the module the docstring is in), when exactly one
  object is best;
* a module reference to an undocumented submodule resolves to its nearest documented parent package.

Anything still unresolved stays a nitpicky warning (an error under ``-W``): a reference to a name that exists
nowhere in the reference is a real defect.
"""
from __future__ import annotations

from sphinx.util.nodes import make_refnode


def _shared(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _resolve(app, env, node, contnode):
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
