"""The docs site's sources and its offline link checker (docs/check_links.py). The site itself is built by
docs/build.sh (in .ci/run, warnings as errors) and opened in Chromium by tests/browser/test_docs_site.py."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import srwidgets.attribution

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_links = _load("check_links", DOCS / "check_links.py")


# ------------------------------------------------------------------------------------------------ link checker
def _site(tmp_path, pages: dict) -> Path:
    for name, body in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body>{body}</body></html>" if name.endswith(".html") else body)
    return tmp_path


def test_links_that_resolve_pass(tmp_path):
    site = _site(tmp_path, {
        "index.html": '<a href="api/lam.html#srwidgets.lam.LAM">LAM</a> <img src="_images/a.png"> '
                      '<a href="#top" id="top">top</a> <a href="api/">api</a> <a href="api/lam.html?x=1">q</a>',
        "api/lam.html": '<dt id="srwidgets.lam.LAM">LAM</dt> <a href="../index.html">home</a>',
        "api/index.html": "",
        "_images/a.png": "png",
    })
    assert check_links.broken_links(site) == []
    assert check_links.main([str(site)]) == 0


def test_external_links_are_not_checked_offline(tmp_path):
    site = _site(tmp_path, {"index.html": '<a href="https://example.invalid/x">x</a> <a href="mailto:a@b">m</a> '
                                          '<img src="data:image/png;base64,AAAA"> <script src="//cdn.invalid/r.js">'})
    assert check_links.broken_links(site) == []


def test_missing_file_missing_fragment_and_escape_are_reported(tmp_path):
    site = _site(tmp_path, {
        "index.html": '<a href="notebooks/01.html">nb</a> <img src="_images/gone.png"> '
                      '<a href="api/lam.html#srwidgets.lam.Nope">bad anchor</a> <a href="#nowhere">self</a> '
                      '<a href="../../etc/passwd">out</a>',
        "api/lam.html": '<dt id="srwidgets.lam.LAM">LAM</dt>',
    })
    problems = check_links.broken_links(site)
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    for what in ("notebooks/01.html (no such file)", "_images/gone.png (no such file)",
                 "'srwidgets.lam.Nope'", "'nowhere'", "points outside the site"):
        assert what in text, (what, text)
    assert check_links.main([str(site)]) == 1


def test_no_site_is_an_error_not_a_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="make docs"):
        check_links.broken_links(tmp_path)
    assert check_links.main([str(tmp_path)]) == 2


# ------------------------------------------------------------------------------------------------ the sources
def test_every_notebook_is_a_page_of_the_site():
    index = (DOCS / "index.md").read_text()
    listed = set(re.findall(r"^notebooks/(\S+)$", index, re.M))
    present = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert present and listed == present, (listed, present)


def test_notebooks_are_rendered_from_stored_outputs():
    conf = (DOCS / "conf.py").read_text()
    assert re.search(r'^nb_execution_mode = "off"', conf, re.M)


def test_every_family_member_is_on_the_methods_page():
    """methods.md includes the members table the build generates from the registry: every member, in order."""
    assert "_generated/members.md" in (DOCS / "methods.md").read_text()
    table = _load("srwidgets_members", DOCS / "_ext" / "srwidgets_members.py").members_table()
    rows = [line for line in table.splitlines()[2:]]
    assert [re.match(r"\| `([^`]+)` \|", r).group(1) for r in rows] == list(srwidgets.attribution.methods())
    for row in rows:
        assert row.count(" | ") == 2, row  # a '|' in a description must not split the row


def test_api_reference_covers_the_public_modules():
    api = "\n".join(p.read_text() for p in (DOCS / "api").glob("*.rst"))
    documented = set(re.findall(r"^\.\. automodule:: (\S+)", api, re.M))
    for module in ("srwidgets.lam", "srwidgets.ddr", "srwidgets.faig", "srwidgets.cem", "srwidgets.attribution",
                   "srwidgets.trust", "srwidgets.models", "srwidgets.zoo", "srwidgets.batch", "srwidgets.engine",
                   "srwidgets.viz", "srwidgets.widgets", "srwidgets.widgets.lam", "srwidgets.widgets.ddr",
                   "srwidgets.widgets.faig", "srwidgets.data", "srwidgets.metrics", "srwidgets.errors"):
        assert module in documented, module
    toctree = (DOCS / "api" / "index.md").read_text()
    for page in (DOCS / "api").glob("*.rst"):
        assert re.search(rf"^{page.stem}$", toctree, re.M), f"api/{page.name} is not in api/index.md's toctree"
    assert ":func: parser" in (DOCS / "cli.rst").read_text()


def test_cli_page_parser_is_the_commands_parser():
    """docs/_ext/srwidgets_cli.parser builds the same commands as ``python -m srwidgets`` accepts."""
    from srwidgets.__main__ import COMMANDS

    cli = _load("srwidgets_cli", DOCS / "_ext" / "srwidgets_cli.py")
    parser = cli.parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {n.replace("_", "-") for n in sub.choices} == {c.replace("_", "-") for c in COMMANDS}
    assert "--window" in sub.choices["lam"].format_help()


@pytest.mark.slow  # a fresh interpreter each (imports torch, loads a zoo model): ~10 s
@pytest.mark.parametrize("page", ["add_method.md", "add_family.md"])
def test_guide_examples_run(page, tmp_path):
    """The guides' Python blocks, run as a reader would paste them (in a fresh interpreter: they register a
    method / a family, global state this session must not keep), in an empty folder."""
    import subprocess
    import sys

    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "guide" / page).read_text(), re.S)
    assert blocks, f"no python example in docs/guide/{page}"
    out = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
