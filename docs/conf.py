"""Sphinx configuration of the srwidgets documentation site (`make docs`, or `bash docs/build.sh`).

Why Sphinx + myst-nb (and not MkDocs + mkdocstrings + mkdocs-jupyter): the package's docstrings are already
reStructuredText, with ``:func:`` / ``:class:`` / ``:mod:`` roles and RST tables (``srwidgets.engine``,
``srwidgets.models``, ``srwidgets.attribution``), which autodoc renders as they are and nitpicky mode checks as
cross-references; myst-nb reads the notebooks with their stored outputs (``nb_execution_mode = "off"``: the docs
build never runs a model) and Markdown pages (the README is included, not copied); sphinx-argparse documents the
command line from its real argparse parser. One toolchain checks all of it with ``-W``.

The notebooks live in ``notebooks/`` (where nbval runs them); Sphinx only reads files below its source folder, so
they are copied to ``docs/notebooks/`` (git-ignored, mtimes kept so incremental builds stay incremental) when this
file is read.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import srwidgets  # noqa: E402  (after the path set-up: the checkout's package, not another installed copy)


def _copy_notebooks() -> None:
    dest = DOCS / "notebooks"
    dest.mkdir(exist_ok=True)
    wanted = {p.name: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    for stale in dest.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, src in wanted.items():
        target = dest / name
        if not target.exists() or target.stat().st_mtime != src.stat().st_mtime or \
                target.stat().st_size != src.stat().st_size:
            shutil.copy2(src, target)


_copy_notebooks()

import srwidgets_members  # noqa: E402  (docs/_ext)

srwidgets_members.write(DOCS / "_generated" / "members.md")  # methods.md includes it: every registered member

project = "srwidgets"
author = "srwidgets maintainers"
copyright = "srwidgets maintainers, MIT licence"
release = srwidgets.__version__  # the one version source
version = release

extensions = [
    "myst_nb",  # Markdown pages and .ipynb notebooks (stored outputs); brings myst_parser with it
    "sphinx.ext.autodoc",
    "srwidgets_napoleon",  # docs/_ext: sphinx.ext.napoleon, except for attributes (traitlets' one-line help)
    "sphinxarg.ext",  # sphinx-argparse: the CLI page
    "srwidgets_refs",  # docs/_ext: docstring references to defining modules -> the documented public name
]

# the README's images live beside this file (docs/*.png) and are referenced from the README as docs/NAME.png;
# README.md (docs/README.md: how this site is built) is not a page of the site
exclude_patterns = ["_build", "README.md", "**.ipynb_checkpoints", "_ext", "_generated"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}

# ---- notebooks: rendered from their stored outputs, never executed here (CI executes them with nbval)
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = [
    # notebooks use "# Title" then "###" for sub-steps in places; the rendered page is fine
    "myst.header",
]

# ---- API reference
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": False}
# torch, ipywidgets and the rest are real imports (the docs extra installs next to dev): nothing is mocked
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "name (what it is): ..." in Args is prose here ("(in order)", "(a zoo name or nn.Module)"), not a type to link
napoleon_use_param = False
napoleon_use_keyword = False
napoleon_use_ivar = True  # a dataclass's "Attributes:" section as fields, not a second description of each field

# every cross-reference must resolve (a broken :func: in a docstring is an error with -W), except names of other
# projects: without intersphinx (the build stays offline) Sphinx cannot link them
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(.*\.)?_.*"),  # private helpers named in a docstring or an annotation: not in the reference
    (r"py:.*", r"(t|torch|np|numpy|pd|pandas|nn|ipywidgets|widgets|ipycanvas|traitlets|matplotlib|PIL|sklearn|"
               r"scipy|ray|concurrent|threading|collections|typing|pathlib|os|argparse|dataclasses|enum|abc)"
               r"(\..*)?"),
    (r"py:.*", r"(Tensor|Module|DataFrame|ndarray|Path|Figure|Axes|Image|Canvas|Event|Thread|Future|dtype|device|"
               r"Generator|Callable|Iterable|Iterator|Sequence|Mapping|Any|Optional|Union|Literal|TypeVar|"
               r"PathLike|Enum|ABC|Protocol|NamedTuple)"),
    (r"py:.*", r"(int|float|str|bool|bytes|dict|list|tuple|set|frozenset|object|type|None|complex|slice|"
               r"callable|optional|array-like|array_like|Ellipsis|NoneType)"),
]

# ---- HTML
html_theme = "furo"
html_title = f"srwidgets {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
