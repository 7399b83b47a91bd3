"""Check the internal links of a built HTML site: every relative ``href`` / ``src`` must name a file that exists,
and a ``#fragment`` must name an ``id`` (or ``name``) in the page it points to.

Sphinx's ``linkcheck`` builder would check the external links too, which needs the internet; this checks only what
the site itself must get right, offline. External URLs (``http:``, ``https:``, ``mailto:``, ``data:``, ...) are
skipped.

Usage: ``python docs/check_links.py docs/_build/html`` (exit 1 and one line per broken link when any is broken).
"""
from __future__ import annotations

import sys
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {"href", "src"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in LINK_ATTRIBUTES and tag != "base":
                self.links.append(value)
            elif name == "id" or (name == "name" and tag == "a"):
                self.anchors.add(value)


@lru_cache(maxsize=None)
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def broken_links(root: str | Path) -> list[str]:
    """``"page.html: link (why)"`` for every broken internal link of the HTML files under ``root``; empty when
    every link resolves. Raises ``FileNotFoundError`` when ``root`` holds no ``index.html`` (nothing was built)."""
    root = Path(root).resolve()
    if not (root / "index.html").is_file():
        raise FileNotFoundError(f"{root} has no index.html: build the site first (make docs)")
    _parse.cache_clear()
    problems = []
    for html in sorted(root.rglob("*.html")):
        for link in _parse(html).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("//"):
                continue  # external (or data:, mailto:, javascript:): not this site's to check offline
            target = html if not parts.path else (html.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            where = html.relative_to(root)
            if root not in target.parents and target != root:
                problems.append(f"{where}: {link} (points outside the site)")
            elif not target.is_file():
                problems.append(f"{where}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _parse(target).anchors:
                problems.append(f"{where}: {link} (no id {parts.fragment!r} in {target.relative_to(root)})")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python docs/check_links.py SITE_DIR", file=sys.stderr)
        return 2
    try:
        problems = broken_links(argv[0])
    except FileNotFoundError as e:
        print(f"check_links: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"broken link: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
