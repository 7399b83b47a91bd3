"""Packaging: the metadata in pyproject.toml, the one version source, the licence files, CITATION.cff, the changelog,
and the install stamp of .ci/install.sh (the one install step of the Makefile and .ci/run)."""
from __future__ import annotations

import glob
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import srwidgets

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
INSTALL = ROOT / ".ci" / "install.sh"


# ------------------------------------------------------------------------------------------------ metadata
def test_licence_is_an_spdx_expression_with_its_files():
    assert PROJECT["license"] == "MIT"
    patterns = PROJECT["license-files"]
    matched = {Path(p).relative_to(ROOT).as_posix() for pat in patterns for p in glob.glob(str(ROOT / pat))}
    for pat in patterns:
        assert glob.glob(str(ROOT / pat)), f"license-files pattern {pat!r} matches no file"
    # every licence or notice file of the checkout is listed (the code's, the zoo's, the bundled images')
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    notices = {f for f in tracked if re.search(r"(^|/)(LICEN[CS]E|COPYING|NOTICE)", Path(f).name, re.I)}
    assert notices and notices <= matched, f"licence files not in license-files: {notices - matched}"
    # setuptools that reads the SPDX string and license-files (PEP 639)
    req = next(r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(re.search(r">=\s*(\d+)", req).group(1)) >= 77, req


def test_one_version_source():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "srwidgets.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([a-z]+\d+)?", srwidgets.__version__)
    # the installed distribution says the same (reinstall after a version change: pip install --no-deps -e .)
    assert importlib.metadata.version("srwidgets") == srwidgets.__version__
    # nothing else in the package writes a version string of its own
    literal = re.compile(r"""__version__\s*=\s*["']""")
    owners = [p.relative_to(ROOT).as_posix() for p in (ROOT / "srwidgets").rglob("*.py") if literal.search(p.read_text())]
    assert owners == ["srwidgets/__init__.py"], owners


def test_metadata_urls_classifiers_keywords():
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(PROJECT["urls"])
    assert all(u.startswith("https://") for u in PROJECT["urls"].values())
    classifiers = PROJECT["classifiers"]
    # the Python version the suite runs on is one the classifiers claim, and it satisfies requires-python
    assert f"Programming Language :: Python :: {sys.version_info.major}.{sys.version_info.minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers), "PEP 639: the licence is the SPDX string"
    assert {"super-resolution", "interpretability"} <= set(PROJECT["keywords"])


def test_dependencies_and_extras():
    deps = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in PROJECT["dependencies"]}
    # psutil: engine.memory.available_bytes asks it for the host's available memory (the memory budget)
    assert "psutil" in deps
    extras = PROJECT["optional-dependencies"]
    names = {k: {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in v} for k, v in extras.items()}
    assert names["safetensors"] == {"safetensors"}
    assert names["umap"] == {"umap-learn"}
    assert "captum" in names["captum"]
    assert "spandrel" in names["spandrel"]
    assert {"sphinx", "myst-nb", "sphinx-argparse"} <= names["docs"]
    assert "ray" in names["ray"]


def test_py_typed_ships():
    assert (ROOT / "srwidgets" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["srwidgets"]


def test_installed_metadata():
    meta = importlib.metadata.metadata("srwidgets")
    assert meta["License-Expression"] == "MIT"
    assert {"LICENSE", "srwidgets/zoo/LICENSE-RFDN", "srwidgets/data/LICENSES.md"} <= set(meta.get_all("License-File"))
    assert any(r.startswith("psutil") for r in meta.get_all("Requires-Dist"))


def test_citation_cff_cites_the_package_and_the_four_papers():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == srwidgets.__version__
    assert cff["license"] == PROJECT["license"]
    refs = {r["title"]: r for r in cff["references"]}
    expected = {  # title -> (first author, year)
        "Interpreting Super-Resolution Networks with Local Attribution Maps": ("Gu", 2021),  # LAM
        'Discovering "Semantics" in Super-Resolution Networks': ("Liu", 2021),  # DDR
        "Finding Discriminative Filters for Specific Degradations in Blind Super-Resolution": ("Xie", 2021),  # FAIG
        "Interpreting Low-level Vision Models with Causal Effect Maps": ("Hu", 2025),  # CEM
    }
    assert set(expected) <= set(refs), set(refs)
    for title, (first, year) in expected.items():
        assert refs[title]["authors"][0]["family-names"] == first and refs[title]["year"] == year, title


def test_changelog_names_the_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## (\S+)", text, re.M)
    assert newest and newest.group(1) == srwidgets.__version__, newest


@pytest.mark.slow
def test_wheel_carries_metadata_licences_and_py_typed(tmp_path):
    """Build the real wheel as pip does for a user (isolated: the build-system's setuptools>=77, from the package
    index like every install of .ci/install.sh) and read what it would install."""
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    wheel = next(tmp_path.glob("srwidgets-*.whl"))
    assert wheel.name.startswith(f"srwidgets-{srwidgets.__version__}-")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist = f"srwidgets-{srwidgets.__version__}.dist-info"
        meta = z.read(f"{dist}/METADATA").decode()
    assert "srwidgets/py.typed" in names
    assert {f"{dist}/licenses/LICENSE", f"{dist}/licenses/srwidgets/zoo/LICENSE-RFDN",
            f"{dist}/licenses/srwidgets/zoo/LICENSE-CARN", f"{dist}/licenses/srwidgets/data/LICENSES.md"} <= names
    assert {"srwidgets/zoo/weights/x4-carn-m.pth", "srwidgets/zoo/weights/x4-rfdn.pth"} <= names  # the public zoo
    assert "License-Expression: MIT" in meta and f"Version: {srwidgets.__version__}" in meta


# ------------------------------------------------------------------------------------------- install stamp
def _install(tmp_path, *args, stamp=None, pyproject=None):
    """Run .ci/install.sh in its --check / --stamp modes against a stamp and a pyproject.toml in tmp_path."""
    env = dict(os.environ, STAMP=str(stamp or tmp_path / "installed"),
               PYPROJECT=str(pyproject or ROOT / "pyproject.toml"), VENV=str(tmp_path / "venv"))
    return subprocess.run(["bash", str(INSTALL), *args], env=env, capture_output=True, text=True, timeout=60)


def _write_stamp(tmp_path, extras, **kw):
    out = _install(tmp_path, "--stamp", extras, **kw)
    assert out.returncode == 0, out.stderr
    (kw.get("stamp") or tmp_path / "installed").write_text(out.stdout)
    return out.stdout


def test_stamp_records_torch_pin_extras_and_pyproject_hash(tmp_path):
    text = _install(tmp_path, "--stamp", "ray, dev,,dev").stdout
    fields = dict(line.split("=", 1) for line in text.splitlines())
    assert fields["torch"] == "torch==2.13.0"
    assert fields["extras"] == "dev,ray"  # sorted, unique, no blanks
    import hashlib

    assert fields["pyproject-sha256"] == hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def test_no_stamp_or_old_empty_stamp_needs_an_install(tmp_path):
    assert _install(tmp_path, "--check", "dev").returncode == 1
    (tmp_path / "installed").write_text("")  # what `touch .venv/.installed` used to leave
    assert _install(tmp_path, "--check", "dev").returncode == 1


def test_make_tour_then_ci_run_installs_the_missing_extras(tmp_path):
    """The README's order: `make tour` (dev) and then `bash .ci/run` (dev,ray,docs): the second must install."""
    _write_stamp(tmp_path, "dev")
    assert _install(tmp_path, "--check", "dev").returncode == 0  # make tour again: nothing to do
    assert _install(tmp_path, "--check", "dev,ray,docs").returncode == 1
    # and it installs the union, so `make tour` afterwards has nothing to do either
    assert "extras=dev,docs,ray" in _install(tmp_path, "--stamp", "dev,ray,docs").stdout


def test_ci_run_then_make_tour_installs_nothing(tmp_path):
    _write_stamp(tmp_path, "dev,ray,docs")
    for extras in ("dev", "dev,docs", "ray", "docs,dev,ray"):
        assert _install(tmp_path, "--check", extras).returncode == 0, extras


def test_changed_pyproject_or_torch_pin_needs_an_install(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text())
    _write_stamp(tmp_path, "dev", pyproject=pyproject)
    assert _install(tmp_path, "--check", "dev", pyproject=pyproject).returncode == 0
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency\n")
    assert _install(tmp_path, "--check", "dev", pyproject=pyproject).returncode == 1
    _write_stamp(tmp_path, "dev", pyproject=pyproject)
    stamp = tmp_path / "installed"
    stamp.write_text(stamp.read_text().replace("torch==2.13.0", "torch==2.12.0"))
    assert _install(tmp_path, "--check", "dev", pyproject=pyproject).returncode == 1


def test_makefile_and_ci_run_share_the_install_script():
    makefile = (ROOT / "Makefile").read_text()
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/install.sh dev" in makefile
    assert re.search(r"bash \.ci/install\.sh [a-z,]*\bray\b", ci_run) and "docs" in ci_run
    for text in (makefile, ci_run):  # no second copy of the install commands or the old stamp logic
        assert "pip install" not in text and "touch" not in text


def test_spandrel_env_is_not_built_on_a_full_disk_and_says_why(tmp_path):
    """.ci/spandrel_env.sh checks the free space before installing anything: short of SPANDREL_ENV_NEED_MB it builds
    nothing, exits 0 and writes the reason next to the environment (the slow spandrel test then skips with it)."""
    env = tmp_path / "env"
    run = subprocess.run(["bash", str(ROOT / ".ci" / "spandrel_env.sh")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SPANDREL_VENV": str(env), "SPANDREL_ENV_NEED_MB": str(10**12)})
    assert run.returncode == 0, run.stderr
    assert not env.exists()
    reason = (tmp_path / "env.not-built").read_text()
    assert "MB free on this disk" in reason and "1000000000000 MB" in reason and "bash .ci/spandrel_env.sh" in reason
    assert reason.strip() in run.stderr


def test_spandrel_env_never_deletes_a_folder_it_did_not_build(tmp_path):
    """SPANDREL_VENV naming a user's folder (not empty, no stamp of the script): refused, the folder untouched."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    run = subprocess.run(["bash", str(ROOT / ".ci" / "spandrel_env.sh")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SPANDREL_VENV": str(folder)})
    assert run.returncode == 1 and "is not a build of this script" in run.stderr and "SPANDREL_VENV" in run.stderr
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and (folder / "notes.txt").read_text() == "keep me"
