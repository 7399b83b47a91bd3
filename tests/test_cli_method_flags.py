"""srwidgets.cli.method_flags: --method and the knob flags generated from the members' declarations, and members of
other installed packages (entry-point group srwidgets.methods) found by the CLI, the widget and di_table."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from srwidgets import attribution
from srwidgets.errors import InputError

MEMBER = '''
import time

from srwidgets.attribution import Knob, WindowMethod


class MyMember(WindowMethod):
    """Gradient x input, scaled by a knob: a member from another package."""

    name, description, map_rule = "mymember", "gain * x * gradient (a plugin)", "abs_sum"
    knobs = (Knob("gain", "float", 1.0, "multiplies the attribution", low=0.0, high=10.0, step=0.5),
             Knob("flip", "bool", False, "negate the attribution"))

    def attribute(self, image, window, *, gain=1.0, flip=False, objective="gradient", callback=None, cancel=None):
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        g = self.gradients(x[None], window, objective, box=self.crop_for(x, window), callback=callback,
                           cancel=cancel)[0]
        a = (-1.0 if flip else 1.0) * gain * x * g
        return self.result(x, window, a, t0=t0, settings=dict(gain=gain, flip=flip), objective=objective)


class Inferred(WindowMethod):
    """No declaration: its knobs are inferred from attribute()'s keywords."""

    name, description, map_rule = "inferred", "gradient, knobs inferred", "max_abs"

    def attribute(self, image, window, *, power: int = 1, objective="gradient", callback=None, cancel=None):
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        g = self.gradients(x[None], window, objective, callback=callback, cancel=cancel)[0]
        return self.result(x, window, g.abs() ** power, t0=t0, settings=dict(power=power), objective=objective)
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """A folder holding an *installed* distribution: the package and its .dist-info (METADATA, entry_points.txt),
    which importlib.metadata finds on sys.path exactly as pip's installs are found."""
    root = tmp_path_factory.mktemp("site")
    (root / "srw_plugin_demo").mkdir()
    (root / "srw_plugin_demo" / "__init__.py").write_text("")
    (root / "srw_plugin_demo" / "member.py").write_text(MEMBER)
    info = root / "srw_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: srw-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [srwidgets.methods]
        mymember = srw_plugin_demo.member:MyMember
        inferred = srw_plugin_demo.member:Inferred
        """))
    (info / "RECORD").write_text("")
    return str(root)


def _cli(plugin_path, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([plugin_path, os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep), SRWIDGETS_TRACEBACK="1")
    return subprocess.run([sys.executable, "-m", "srwidgets", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_a_plugin_members_knobs_are_cli_flags_and_it_runs(plugin_path, tmp_path):
    help_ = _cli(plugin_path, "lam", "--method", "mymember", "--help")
    assert help_.returncode == 0, help_.stderr
    assert re.search(r"knobs of --method mymember", help_.stdout)
    assert re.search(r"--gain X\s+multiplies the attribution \(default: 1.0\)", help_.stdout), help_.stdout
    assert "--flip BOOL" in help_.stdout and "--path" not in help_.stdout.split("knobs of")[-1]
    inferred = _cli(plugin_path, "di-table", "--method", "inferred", "--help")
    assert "--power INT" in inferred.stdout, inferred.stdout  # inferred from attribute()'s keyword

    out = tmp_path / "plugin.png"
    run = _cli(plugin_path, "lam", "astronaut", "--downsample", "--model", "x4-fsrcnn", "--window", "96,80,16",
               "--method", "mymember", "--gain", "2.5", "--flip", "true", "--out", str(out), "--no-progress")
    assert run.returncode == 0, run.stderr
    assert re.search(r"Gini \d\.\d{4}  DI \d+\.\d\d", run.stdout) and out.stat().st_size > 0, run.stdout
    bad = _cli(plugin_path, "lam", "astronaut", "--model", "x4-fsrcnn", "--window", "96,80,16", "--method",
               "mymember", "--gain", "11", "--out", str(tmp_path / "no.png"))
    assert bad.returncode == 2 and "--gain must be a finite number >= 0 and <= 10" in bad.stderr, bad.stderr
    assert not (tmp_path / "no.png").exists()


@pytest.fixture
def installed(plugin_path):
    """The plugin found in this process too (its folder on sys.path, the entry points read again)."""
    sys.path.insert(0, plugin_path)
    try:
        found = attribution.plugins(refresh=True)
        assert {"mymember", "inferred"} <= set(found), attribution.plugin_errors()
        yield found
    finally:
        sys.path.remove(plugin_path)
        for name in ("mymember", "inferred"):
            if name in attribution.methods():
                attribution.unregister(name)
        attribution.plugins(refresh=True)


def test_a_plugin_member_runs_in_di_table_and_its_knobs_are_recorded(installed, tmp_path):
    import json

    import torch

    from srwidgets.batch import di_table
    from srwidgets.models import build

    model = build("EDSR", num_feat=8, num_block=1, upscale=2)
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    one = di_table({"m": model}, [image], [(0, 0, 8)], method="mymember", progress=False)
    out = tmp_path / "t.csv"
    two = di_table({"m": model}, [image], [(0, 0, 8)], method="mymember", gain=3.0, out=out, progress=False)
    assert one.di.tolist() == pytest.approx(two.di.tolist())  # a gain scales the map, not its spread
    assert json.loads((tmp_path / "t.csv.json").read_text())["settings"]["knobs"] == {"flip": False, "gain": 3.0}
    with pytest.raises(InputError, match="gain must be"):
        di_table({"m": model}, [image], [(0, 0, 8)], method="mymember", gain=-1.0, progress=False)


def test_the_help_lists_the_default_methods_knobs_and_says_how_to_see_another(capsys):
    from srwidgets.__main__ import main

    for command in ("lam", "di-table"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert f"python -m srwidgets {command} --method NAME --help" in text
        section = text.split("knobs of --method lam")[1]
        for flag in ("--steps INT", "--sigma X", "--kernel-size INT", "--path NAME", "--seed INT"):
            assert flag in section, (command, flag)
        assert "--baseline" not in section and "--samples" not in section
        with pytest.raises(SystemExit):
            main([command, "--method", "ig", "--help"])
        ig = capsys.readouterr().out.split("knobs of --method ig")[1]
        assert "--baseline NAME" in ig and "--steps INT" in ig and "--path" not in ig


def test_every_members_knobs_become_flags_with_no_cli_edit():
    """Whatever a member declares is a flag: the generated flags equal the declarations, member by member."""
    import argparse

    from srwidgets.cli import lam
    from srwidgets.cli.method_flags import knob_flag

    sub = argparse.ArgumentParser().add_subparsers()
    parser = lam.add_parser(sub)
    flags = set(parser._option_string_actions)  # argparse has no public listing
    for name, cls in attribution.members().items():
        for knob in attribution.knobs_of(cls):
            assert knob_flag(knob) in flags or f"--knob-{knob.name.replace('_', '-')}" in flags, (name, knob.name)


def test_smoothgrad_passes_its_inner_members_knobs_on(tmp_path, capsys):
    from srwidgets.__main__ import main

    out = tmp_path / "sg.png"
    assert main(["lam", "astronaut", "--downsample", "--model", "x4-fsrcnn", "--window", "96,80,16", "--method",
                 "smoothgrad", "--inner", "ig", "--baseline", "blurred", "--steps", "2", "--samples", "2",
                 "--out", str(out), "--no-progress"]) == 0
    assert "DI" in capsys.readouterr().out and out.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None, reason="ray is not installed")
def test_a_plugin_member_runs_on_ray_workers_from_the_cli(plugin_path, tmp_path):
    """Ray workers import srwidgets afresh: the plugin's member reaches them (by its installed module) and its rows
    equal the local backend's."""
    import pandas as pd

    common = ["di-table", "--models", "x4-fsrcnn", "--images", "astronaut", "--downsample", "--windows",
              "96,80,16;32,32,16", "--method", "mymember", "--gain", "2", "--no-progress"]
    local = _cli(plugin_path, *common, "--out", str(tmp_path / "local.csv"))
    assert local.returncode == 0, local.stderr
    ray = _cli(plugin_path, *common, "--ray", "--workers", "1", "--out", str(tmp_path / "ray.csv"), timeout=420)
    assert ray.returncode == 0, ray.stderr
    a, b = (pd.read_csv(tmp_path / f"{n}.csv") for n in ("local", "ray"))
    assert list(a.method) == list(b.method) == ["mymember"] * 2
    keys = ["model", "image", "top", "left", "size", "psnr", "ssim"]
    assert a[keys].equals(b[keys])
    for column in ("di", "gini"):  # the workers' thread count may round float32 sums differently
        assert b[column].tolist() == pytest.approx(a[column].tolist(), rel=1e-5)
