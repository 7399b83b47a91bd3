"""di_table / di_atlas with any window-attribution member (issue 18): rows equal srwidgets.attribute per window,
CEM from one intervention batch on its block grid, the method in the table and in the resume check, the CLI's
--method, and the batch package split keeping every old import."""
import importlib.util
import json
import re

import numpy as np
import pytest
import torch

import srwidgets
from srwidgets.batch import COLUMNS, di_atlas, di_table
from srwidgets.errors import InputError
from srwidgets.models import build

HAS_RAY = importlib.util.find_spec("ray") is not None
WINDOWS = [(0, 0, 8), (20, 12, 8), (36, 36, 12)]  # SR pixels of a 24x24 LR image at x2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("EDSR", num_feat=8, num_block=1, upscale=2).eval()


@pytest.fixture(scope="module")
def images():
    return [torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(i)) for i in range(2)]


@pytest.fixture(scope="module")
def fsrcnn_hr():
    """x4-fsrcnn and a 96x96 HR crop (LR 24x24), CEM's setting."""
    from srwidgets import data, zoo

    return zoo.load("x4-fsrcnn"), data.image("chelsea", 4)[:, :96, :96]


# -- rows are the member's numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method, knobs, extra", [
    ("gradient", {}, {}),
    ("ig", dict(baseline="blurred"), dict(steps=4)),  # di_table's steps= goes to ig
])
def test_rows_equal_srwidgets_attribute_per_window(model, images, method, knobs, extra):
    table = di_table({"a": model}, images, WINDOWS, steps=4, method=method, progress=False, **knobs)
    assert list(table.columns) == COLUMNS and set(table.method) == {method} and len(table) == 2 * len(WINDOWS)
    for row in table.itertuples():
        r = srwidgets.attribute(model, images[row.image], (row.top, row.left, row.size), method, **knobs, **extra)
        # srwidgets.attribute keeps one engine per model, di_table builds one per task: their chunk sizes (measured
        # on the first chunk) may differ, and so may the last float32 bits of the sums
        assert row.di == pytest.approx(r.diffusion_index, rel=1e-6)
        assert row.gini == pytest.approx(r.gini, rel=1e-6)
        assert row.crop == (",".join(map(str, r.crop)) if r.crop else "")


def test_lam_rows_say_lam(model, images):
    table = di_table({"a": model}, images[:1], WINDOWS[:1], steps=2, progress=False)
    assert list(table.method) == ["lam"]


def test_cem_rows_equal_cem_attribute_on_the_same_window_and_edges_are_snapped(fsrcnn_hr):
    from srwidgets.cem import CEM
    from srwidgets.degrade import pil_bicubic

    model, hr = fsrcnn_hr
    lr = pil_bicubic(hr, 4)  # what downsample=True makes
    knobs = dict(coarse=1, fine=2, seed=3)
    table = di_table({"f": model}, [hr], "edges:3", window_size=20, downsample=True, method="cem", progress=False,
                     **knobs)
    assert len(table) == 3 and set(table.method) == {"cem"} and table.psnr.notna().all()
    # snapped: corners and sides on the 8-px block grid (20 -> 16)
    assert all(v % 8 == 0 for v in table[["top", "left", "size"]].values.ravel()) and set(table["size"]) == {16}
    for row in table.itertuples():
        win = (row.top, row.left, row.size)
        alone = CEM(model).attribute(lr, hr, win, **knobs)
        family = srwidgets.attribute(model, lr, win, "cem", hr=hr, **knobs)
        assert torch.equal(family.extras["effects"], alone.map)
        assert row.di == pytest.approx(family.diffusion_index, rel=1e-9)
        assert row.gini == pytest.approx(family.gini, rel=1e-9)


def test_cem_with_hr_references_of_lr_images(fsrcnn_hr):
    from srwidgets.degrade import pil_bicubic

    model, hr = fsrcnn_hr
    lr = pil_bicubic(hr, 4)
    a = di_table({"f": model}, [lr], [(32, 32, 16)], hr=[hr], method="cem", coarse=1, fine=2, progress=False)
    b = di_table({"f": model}, [hr], [(32, 32, 16)], downsample=True, method="cem", coarse=1, fine=2,
                 progress=False)
    assert a.di[0] == pytest.approx(b.di[0], rel=1e-9) and a.psnr[0] == pytest.approx(b.psnr[0], rel=1e-6)
    with pytest.raises(InputError, match="not on the block grid of method='cem'.*e.g. \\(32, 32, 16\\)"):
        di_table({"f": model}, [lr], [(36, 32, 16)], hr=[hr], method="cem", progress=False)
    with pytest.raises(InputError, match="HR reference must be 96x96"):
        di_table({"f": model}, [lr], [(32, 32, 16)], hr=[hr[:, :64, :64]], method="cem", progress=False)
    with pytest.raises(InputError, match="hr= holds 2 image"):
        di_table({"f": model}, [lr], [(32, 32, 16)], hr=[hr, hr], method="cem", progress=False)


# -- bad input ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(method="nope"), r"unknown method 'nope'; choose one of: lam, ig, gradient"),
    (dict(method=3), "method must be the name"),
    (dict(method="gradient", baseline="black"), r"method='gradient' does not take baseline; its options are: objective"),
    (dict(method="lam", baseline="black"), "method='lam' does not take baseline; its options are: .*num_baselines"),
    (dict(method="ig", baseline="purple"), "unknown baseline 'purple'; choose one of: black"),
    (dict(method="ig", num_baselines=0), "num_baselines must be an integer >= 1"),
    (dict(method="ig", path="black"), "path='black' is LAM's"),
    (dict(method="cem"), "downsample=True, or hr="),
    (dict(method="gradient", window=(0, 0, 8)), "di_table passes 'window' itself"),
    (dict(method="ig", hr=[torch.rand(3, 48, 48)], downsample=True), "hr= is for LR images"),
])
def test_bad_methods_and_knobs_are_refused_before_computing(model, images, kwargs, match):
    with pytest.raises(InputError, match=match):
        di_table({"a": model}, images, WINDOWS, steps=1, progress=False,
                 callback=lambda p: pytest.fail("computed before checking"), **kwargs)


# -- the method in the file and in the resume check ---------------------------------------------------------------
def test_the_method_is_recorded_and_resume_refuses_another(model, images, tmp_path):
    out = tmp_path / "di.csv"
    first = di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="ig", baseline="uniform", out=out,
                     progress=False)
    settings = json.loads((tmp_path / "di.csv.json").read_text())["settings"]
    assert settings["method"] == "ig" and settings["knobs"]["baseline"] == "uniform" and settings["knobs"]["steps"] == 2
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    with pytest.raises(InputError, match="method: 'ig' in .* vs 'gradient' now"):
        di_table({"a": model}, images[:1], WINDOWS[:2], method="gradient", out=out, progress=False)
    with pytest.raises(InputError, match="baseline: 'uniform' in .* vs 'black' now"):
        di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="ig", baseline="black", out=out,
                 progress=False)
    again = di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="ig", baseline="uniform", out=out,
                     progress=False, callback=lambda p: pytest.fail("nothing left to compute"))
    assert again.equals(first)


def test_a_lam_table_from_before_the_method_column_resumes(model, images, tmp_path):
    out, sidecar = tmp_path / "di.csv", tmp_path / "di.csv.json"
    full = di_table({"a": model}, images, WINDOWS[:2], steps=2, out=out, progress=False)
    # as the single-module batch.py wrote it: no method column, no method / knobs in the settings; image 1 missing
    lines = out.read_text().splitlines()
    col = COLUMNS.index("method")
    old = [",".join(c for i, c in enumerate(line.split(",")) if i != col) for line in lines[:3]]
    out.write_text("\n".join(old) + "\n")
    state = json.loads(sidecar.read_text())
    del state["settings"]["method"]
    knobs = state["settings"].pop("knobs")  # LAM's settings stood at the top level then, its other knobs nowhere
    state["settings"].update({k: knobs[k] for k in ("steps", "sigma", "kernel_size", "path")})
    sidecar.write_text(json.dumps(state))
    computed = []
    resumed = di_table({"a": model}, images, WINDOWS[:2], steps=2, out=out, progress=False,
                       callback=lambda p: computed.append(len(p.partial)))
    assert computed == [2]  # image 1 only
    assert resumed.drop(columns="seconds").equals(full.drop(columns="seconds"))
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)  # rewritten with the column


# -- the atlas ------------------------------------------------------------------------------------------------------
def test_atlas_with_another_method(model, images, fsrcnn_hr):
    atlas = di_atlas(model, images[0], stride=16, size=16, method="gradient", progress=False)
    r = srwidgets.attribute(model, images[0], atlas.window(1, 2), "gradient")
    assert atlas.di[1, 2] == pytest.approx(r.diffusion_index, rel=1e-9)
    assert set(atlas.table.method) == {"gradient"}
    fsrcnn, hr = fsrcnn_hr
    with pytest.raises(InputError, match="stride=12 and size=16 must be multiples of block=8"):
        di_atlas(fsrcnn, hr, stride=12, size=16, downsample=True, method="cem", progress=False)


# -- Ray ------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'srwidgets[ray]')")
def test_ray_runs_any_method_with_the_local_numbers(model, images):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        for method, knobs in (("ig", dict(baseline="blurred")), ("gradient", {})):
            local = di_table({"a": model}, images, WINDOWS, steps=3, method=method, progress=False, **knobs)
            remote = di_table({"a": model}, images, WINDOWS, steps=3, method=method, backend="ray", progress=False,
                              **knobs)
            assert remote.drop(columns="seconds").equals(local.drop(columns="seconds")), method
    finally:
        ray.shutdown()


# -- CLI ------------------------------------------------------------------------------------------------------------
def test_cli_method_writes_the_method_column(tmp_path, capsys):
    import pandas as pd
    from PIL import Image

    from srwidgets.__main__ import main

    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / "x.png")
    out = tmp_path / "di.csv"
    assert main(["di-table", "--models", "x4-fsrcnn", "--images", str(tmp_path), "--windows", "edges:2",
                 "--steps", "2", "--out", str(out), "--no-progress", "--method", "ig", "--baseline", "blurred"]) == 0
    assert "x4-fsrcnn" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.method) == ["ig", "ig"]
    assert json.loads((tmp_path / "di.csv.json").read_text())["settings"]["knobs"]["baseline"] == "blurred"


@pytest.mark.parametrize("flags, match", [
    (["--method", "bogus"], "--method 'bogus' is not a window-attribution method; choose one of: lam"),
    (["--method", "ig", "--baseline", "grey"], "unknown --baseline 'grey'; choose one of: black"),
    (["--method", "ig", "--steps", "0"], "--steps must be at least 1"),
    (["--method", "cem", "--downsample", "--coarse", "0"], "--coarse must be an integer >= 1"),
    (["--method", "cem"], "--method cem compares each window with the HR image: .*--downsample.*--hr"),
    (["--method", "cem", "--downsample", "--window-size", "12"], "--window-size and --atlas-stride must be multiples"),
    (["--hr", "a.png", "--downsample"], "--hr is for LR --images"),
])
def test_cli_method_flags_are_checked_before_a_model_loads(tmp_path, capsys, flags, match):
    from srwidgets.__main__ import main

    # the model does not exist: a flag error must come first
    args = ["di-table", "--models", str(tmp_path / "missing.pth"), "--images", "astronaut", "--out",
            str(tmp_path / "t.csv"), "--no-progress"]
    assert main(args + flags) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert "missing.pth" not in err and not (tmp_path / "t.csv").exists()


def test_cli_a_knob_of_another_method_is_refused_naming_whose(tmp_path, capsys):
    from srwidgets.__main__ import main

    args = ["di-table", "--models", str(tmp_path / "missing.pth"), "--images", "astronaut", "--out",
            str(tmp_path / "t.csv"), "--method", "gradient", "--path", "black"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--path is a knob of --method lam, not of --method gradient" in err and "missing.pth" not in err, err


# -- the split keeps every import ------------------------------------------------------------------------------------
def test_the_package_exports_its_public_names_only():
    import srwidgets.batch as batch
    from srwidgets.batch import BACKENDS, DIAtlas, pick_windows  # noqa: F401
    from srwidgets.batch import atlas, inputs, ray_backend, runner, sink, task  # noqa: F401

    public = {"di_table", "di_atlas", "DIAtlas", "pick_windows", "COLUMNS", "BACKENDS"}
    assert set(batch.__all__) == public
    # no private name re-exported across modules (the house rule tests/test_imports.py checks everywhere)
    assert not [n for n in vars(batch) if n.startswith("_") and not n.startswith("__")]
    assert ray_backend.run_tasks and inputs.task_inputs and sink.Sink and sink.check_out and sink.frame
    assert srwidgets.batch is batch and batch.di_table is runner.di_table and batch.di_atlas is atlas.di_atlas


def test_a_table_whose_record_lacks_knobs_declared_since_resumes(model, images, tmp_path):
    """Knobs are data now: the record holds every declared knob (defaults filled); a sidecar written when ig's
    record held only the knobs given (no noise_std / num_baselines) means the same settings and resumes."""
    out, sidecar = tmp_path / "di.csv", tmp_path / "di.csv.json"
    di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="ig", baseline="uniform", out=out, progress=False)
    state = json.loads(sidecar.read_text())
    assert {"noise_std", "num_baselines", "seed"} <= set(state["settings"]["knobs"])
    for name in ("noise_std", "num_baselines", "seed"):
        del state["settings"]["knobs"][name]
    sidecar.write_text(json.dumps(state))
    di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="ig", baseline="uniform", out=out,
             progress=False, callback=lambda p: pytest.fail("nothing left to compute"))
    with pytest.raises(InputError, match="num_baselines: 4 in .* vs 2 now"):
        di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="ig", baseline="uniform", num_baselines=2,
                 out=out, progress=False)


def test_rows_run_any_member_through_its_capabilities_not_its_name(model, images):
    """A member registered under a new name, with LAM's class: di_table runs it exactly as 'lam' (attribute_many,
    the same numbers), because rows read many_windows / needs_hr, not the name."""
    from srwidgets.attribution import method_class, register, unregister

    register("lam_again", method_class("lam"))
    try:
        again = di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, method="lam_again", progress=False)
    finally:
        unregister("lam_again")
    lam = di_table({"a": model}, images[:1], WINDOWS[:2], steps=2, progress=False)
    assert again.method.tolist() == ["lam_again"] * 2
    assert again.drop(columns=["method", "seconds"]).equals(lam.drop(columns=["method", "seconds"]))
