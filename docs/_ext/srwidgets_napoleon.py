"""Napoleon (Google-style ``Args:`` / ``Returns:`` sections) for functions, classes and modules, not attributes.

Napoleon reads an attribute's first line ``"what: more"`` as ``type: description``; the widgets' traitlets carry
one-line help texts such as ``"{model name: result} of the first method"``, which it would turn into a type to
link. Attribute docstrings here are plain prose, so they skip napoleon.
"""
from __future__ import annotations

from sphinx.ext import napoleon


def _process_docstring(app, what, name, obj, options, lines):
    if what in ("attribute", "data", "property"):
        return
    napoleon._process_docstring(app, what, name, obj, options, lines)


def setup(app):
    app.setup_extension("sphinx.ext.napoleon")
    app.disconnect(next(listener.id for listener in app.events.listeners["autodoc-process-docstring"]
                        if listener.handler is napoleon._process_docstring))
    app.connect("autodoc-process-docstring", _process_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
