"""The spandrel route from the main environment.

spandrel imports torchvision, and the main environment's CPU torch has no matching torchvision, so the real
spandrel tests (tests/test_models_spandrel.py) run in ``.venv-spandrel``, which ``.ci/spandrel_env.sh`` builds (torch
2.14.1 + torchvision 0.29.1 + srwidgets[spandrel]). The slow test here runs that file there and fails on any failure
or skip; under CI (``CI`` set) a missing ``.venv-spandrel`` is a failure, not a skip, unless the build script
recorded why it did not build it (``.venv-spandrel.not-built``: too little free disk). The fast tests check what a
user without spandrel sees.
"""
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from srwidgets import models
from srwidgets.errors import InputError
from srwidgets.models import spandrel_adapter

ROOT = Path(__file__).resolve().parents[1]
SPANDREL_PYTHON = ROOT / ".venv-spandrel" / "bin" / "python"
NOT_BUILT = ROOT / ".venv-spandrel.not-built"  # .ci/spandrel_env.sh's reason when the disk was too full to build it


def test_a_file_nobody_knows_names_its_keys_both_routes_and_the_extra(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({f"encoder.stage{i}.weight": torch.zeros(4, 3, 3, 3) for i in range(9)}, path)
    with pytest.raises(InputError) as info:
        models.load(path)
    text = str(info.value)
    assert "encoder.stage0.weight" in text and "encoder.stage8.weight" not in text  # a few keys, and the count
    assert "(9 keys)" in text and "srwidgets' families (FSRCNN, EDSR" in text and "(2) spandrel:" in text
    if spandrel_adapter.available():
        assert "does not recognise it either" in text
    else:  # the main environment: spandrel cannot import beside its torch
        assert 'pip install "srwidgets[spandrel]"' in text and "may load it" in text


def test_the_spandrel_route_says_what_it_is_or_what_to_install():
    line = spandrel_adapter.status()
    if spandrel_adapter.available():
        assert line.startswith("spandrel 0.") and "architectures" in line
    else:
        assert 'pip install "srwidgets[spandrel]"' in line and "torchvision" in line


def test_families_lists_the_native_route_and_spandrel_only_when_it_imports():
    listed = models.families()
    native = [name for name, route in listed if route == "srwidgets"]
    assert native == models.architectures()
    spandrel_names = [name for name, route in listed if route == "spandrel"]
    assert bool(spandrel_names) == spandrel_adapter.available()
    assert {route for _, route in listed} <= {"srwidgets", "spandrel"}


@pytest.mark.slow
def test_the_spandrel_tests_pass_in_their_environment(tmp_path):
    built = SPANDREL_PYTHON.exists() and (SPANDREL_PYTHON.parents[1] / ".installed").exists() and not (
        SPANDREL_PYTHON.parents[1] / ".building").exists()  # an unfinished build is not an environment
    if not built:
        if NOT_BUILT.exists():
            pytest.skip(f"{SPANDREL_PYTHON.relative_to(ROOT)} {NOT_BUILT.read_text().strip()}")
        message = (f"{SPANDREL_PYTHON.parents[1].relative_to(ROOT)} is missing or unfinished: build it with bash "
                   ".ci/spandrel_env.sh")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    report = tmp_path / "spandrel.xml"
    run = subprocess.run(
        [str(SPANDREL_PYTHON), "-m", "pytest", "tests/test_models_spandrel.py", "tests/test_hostile_23.py", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", "-W", "ignore::DeprecationWarning"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    tail = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, tail
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 80 and counts["failures"] == counts["errors"] == counts["skipped"] == 0, (counts, tail)
