"""The members table of docs/methods.md, generated from the registry (``srwidgets.attribution.methods()``) when
the docs are built, so that a member registered in the package is on the site without editing a page."""
from __future__ import annotations

from pathlib import Path


def members_table() -> str:
    """A Markdown table: ``method=`` name, its class (a cross-reference), its description."""
    from srwidgets import attribution

    rows = ["| `method=` | class | what it computes |", "| --- | --- | --- |"]
    for name, description in attribution.methods().items():
        cls = attribution.method_class(name)
        target = f"{cls.__module__}.{cls.__qualname__}"
        text = description.replace("|", "&#124;")
        for special in "\\`*_[]<>":  # the registry's words are plain text, not Markdown
            text = text.replace(special, "\\" + special)
        rows.append(f"| `{name}` | {{py:class}}`~{target}` | {text} |")
    return "\n".join(rows) + "\n"


def write(path: Path) -> None:
    """Write the table to ``path`` unless it already holds it (an unchanged file keeps incremental builds short)."""
    text = members_table()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
