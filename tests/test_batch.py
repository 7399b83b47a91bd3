"""srwidgets.batch: the DI table (rows = LAM's numbers, resume, backends, bad input), windows, atlas, figures, CLI."""
import importlib.util
import json
import re

import numpy as np
import pytest
import torch

from srwidgets.batch import COLUMNS, di_atlas, di_table, pick_windows
from srwidgets.errors import Cancelled, InputError
from srwidgets.lam import LAM
from srwidgets.lam.engine import gradient_detector
from srwidgets.models import build
from srwidgets.progress import CancelToken

HAS_RAY = importlib.util.find_spec("ray") is not None
STEPS = 4
WINDOWS = [(0, 0, 8), (20, 12, 8), (36, 36, 12)]  # SR pixels of a 24x24 LR image at x2 (48x48 SR)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread, as each Ray worker has: tiny convolutions on a busy 2-core machine run 20x faster
    than with two spinning threads, and the local and Ray tables are then computed alike."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(seed, scale=2):
    torch.manual_seed(seed)
    return build("EDSR", num_feat=8, num_block=1, upscale=scale).eval()


@pytest.fixture(scope="module")
def models():
    return {"a": tiny(0), "b": tiny(1)}


@pytest.fixture(scope="module")
def images():
    return [torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(i)) for i in range(2)]


@pytest.fixture(scope="module")
def reference(models, images):
    """The uninterrupted table, computed once."""
    return di_table(models, images, WINDOWS, steps=STEPS, progress=False)


def without_seconds(table):
    return table.drop(columns="seconds").reset_index(drop=True)


# -- rows are LAM's numbers ---------------------------------------------------------------------------------------
def test_rows_equal_lam_attribute_for_the_same_windows(models, images, reference):
    assert list(reference.columns) == COLUMNS
    assert len(reference) == 2 * 2 * len(WINDOWS)
    for row in reference.itertuples():
        r = LAM(models[row.model]).attribute(images[row.image], (row.top, row.left, row.size), steps=STEPS)
        # one window alone may run on a smaller LR crop than the image's windows together: float32 rounding only
        assert row.di == pytest.approx(r.diffusion_index, rel=1e-6)
        assert row.gini == pytest.approx(r.gini, rel=1e-6)
        assert row.scale == 2 and row.file == ""
        assert np.isnan(row.psnr)  # no HR reference


def test_rows_are_exactly_lam_attribute_many_on_the_image_windows(models, images, reference):
    results = LAM(models["b"]).attribute_many(images[1], WINDOWS, steps=STEPS)
    rows = reference[(reference.model == "b") & (reference.image == 1)]
    assert list(rows.di) == [r.diffusion_index for r in results]
    assert list(rows.gini) == [r.gini for r in results]
    assert list(rows.crop) == [",".join(map(str, r.crop)) if r.crop else "" for r in results]


def test_table_order_is_models_then_images_then_windows(reference):
    keys = list(zip(reference.model, reference.image, zip(reference.top, reference.left, reference["size"])))
    assert keys == [(m, i, w) for m in "ab" for i in (0, 1) for w in WINDOWS]


def test_downsample_uses_the_paper_lr_and_reports_psnr():
    from PIL import Image

    from srwidgets import data, zoo
    from srwidgets.metrics import psnr

    model = zoo.load("x4-fsrcnn")
    hr = data.image("chelsea", 4)[:, :96, :96]
    table = di_table({"fsrcnn": model}, [hr], [(40, 40, 16)], steps=2, downsample=True, progress=False)
    # the papers' LR: Pillow's bicubic resize of the 8-bit image
    pil = Image.fromarray((hr * 255).round().byte().permute(1, 2, 0).numpy()).resize((24, 24), Image.BICUBIC)
    lr = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float() / 255
    expected = LAM(model).attribute(lr, (40, 40, 16), steps=2)
    assert table.di[0] == pytest.approx(expected.diffusion_index, abs=1e-9)
    assert table.psnr[0] == pytest.approx(psnr(expected.sr, hr, shave=4))
    assert 0 < table.ssim[0] <= 1


# -- windows --------------------------------------------------------------------------------------------------------
def test_edges_windows_are_deterministic_non_overlapping_and_highest_energy():
    ref = torch.rand(3, 64, 48, generator=torch.Generator().manual_seed(3))
    ref[:, :32] *= 0.1  # the top half is nearly flat: edges must come from the bottom half
    first = pick_windows(ref, "edges:5", 8)
    assert first == pick_windows(ref.clone(), "edges:5", 8)
    assert len(first) == 5 and all(t >= 24 for t, _, _ in first)
    for i, a in enumerate(first):
        for b in first[i + 1:]:
            assert abs(a[0] - b[0]) >= 8 or abs(a[1] - b[1]) >= 8
    energy = {(t, l): float(gradient_detector(ref[None].double(), (t, l, 8, 8)))
              for t in range(0, 57, 2) for l in range(0, 41, 2)}
    assert first[0][:2] == max(energy, key=energy.get)


def test_edges_fill_with_overlapping_windows_when_the_image_has_no_room():
    wins = pick_windows(torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)), "edges:6", 8)
    assert len(set(wins)) == 6


def test_edges_in_di_table_are_the_same_for_every_model_and_run(models, images):
    a = di_table(models, images[:1], "edges:2", steps=2, window_size=8, progress=False)
    b = di_table(models, images[:1], "edges:2", steps=2, window_size=8, progress=False)
    assert without_seconds(a).equals(without_seconds(b))
    wins = a.groupby("model")[["top", "left"]].apply(lambda d: [tuple(r) for r in d.values])
    assert wins["a"] == wins["b"]


def test_grid_windows_follow_the_aspect_ratio():
    wins = pick_windows(torch.zeros(3, 32, 64), "grid:8", 8)
    assert sorted({t for t, _, _ in wins}) == [4, 20] and len({l for _, l, _ in wins}) == 4


# -- resume ---------------------------------------------------------------------------------------------------------
def test_resume_after_a_failing_callback_gives_the_uninterrupted_table(models, images, reference, tmp_path):
    out = tmp_path / "di.csv"
    seen = []

    def boom(progress):
        seen.append(progress.done)
        if progress.done >= 2 * len(WINDOWS):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        di_table(models, images, WINDOWS, steps=STEPS, out=out, progress=False, callback=boom)
    assert len(out.read_text().splitlines()) == 1 + 2 * len(WINDOWS)  # header + the two tasks done
    totals = []
    resumed = di_table(models, images, WINDOWS, steps=STEPS, out=out, progress=False,
                       callback=lambda p: totals.append(p.total))
    assert set(totals) == {2 * len(WINDOWS)}  # only the missing rows were computed
    assert without_seconds(resumed).equals(without_seconds(reference))
    assert len(out.read_text().splitlines()) == 1 + len(reference)
    again = di_table(models, images, WINDOWS, steps=STEPS, out=out, progress=False,
                     callback=lambda p: pytest.fail("nothing left to compute"))
    assert again.equals(resumed)


def test_cancel_keeps_the_rows_done_and_resume_completes(models, images, reference, tmp_path):
    out = tmp_path / "di.csv"
    token = CancelToken()
    with pytest.raises(Cancelled):
        di_table(models, images, WINDOWS, steps=STEPS, out=out, progress=False, callback=lambda p: token.cancel(),
                 cancel=token)
    assert len(out.read_text().splitlines()) == 1 + len(WINDOWS)
    resumed = di_table(models, images, WINDOWS, steps=STEPS, out=out, progress=False)
    assert without_seconds(resumed).equals(without_seconds(reference))


def test_a_torn_last_line_is_dropped_and_recomputed(models, images, reference, tmp_path):
    out = tmp_path / "di.csv"
    di_table(models, images[:1], WINDOWS, steps=STEPS, out=out, progress=False)
    text = out.read_text()
    out.write_text(text[:-15])  # a crash in the middle of the last row
    resumed = di_table(models, images[:1], WINDOWS, steps=STEPS, out=out, progress=False)
    expected = reference[reference.image == 0]
    assert without_seconds(resumed).equals(without_seconds(expected))


def test_resume_refuses_other_settings_or_weights(models, images, tmp_path):
    out = tmp_path / "di.csv"
    di_table({"a": models["a"]}, images[:1], WINDOWS[:1], steps=2, out=out, progress=False)
    with pytest.raises(InputError, match="steps: 2 .* vs 3"):
        di_table({"a": models["a"]}, images[:1], WINDOWS[:1], steps=3, out=out, progress=False)
    with pytest.raises(InputError, match="model 'a' differs"):
        di_table({"a": models["b"]}, images[:1], WINDOWS[:1], steps=2, out=out, progress=False)
    with pytest.raises(InputError, match="image '0' differs"):
        di_table({"a": models["a"]}, images[1:], WINDOWS[:1], steps=2, out=out, progress=False)
    # a new model and a new image extend the table
    table = di_table(models, images, WINDOWS[:1], steps=2, out=out, progress=False)
    assert len(table) == 4 and set(json.loads((tmp_path / "di.csv.json").read_text())["models"]) == {"a", "b"}
    (tmp_path / "di.csv.json").unlink()
    with pytest.raises(InputError, match="settings file"):
        di_table(models, images, WINDOWS[:1], steps=2, out=out, progress=False)


# -- bad input ------------------------------------------------------------------------------------------------------
def test_a_window_that_does_not_fit_an_image_is_refused_before_computing(models, images):
    small = torch.rand(3, 12, 12)
    with pytest.raises(InputError, match=r"window \(20, 12, 8\) does not fit image 1.*24x24 SR pixels"):
        di_table(models, [images[0], small], WINDOWS, steps=STEPS, progress=False,
                 callback=lambda p: pytest.fail("computed before checking"))
    with pytest.raises(InputError, match="not square"):
        di_table(models, images, [(0, 0, 8, 10)], progress=False)
    with pytest.raises(InputError, match="grid:N"):
        di_table(models, images, "edges:many", progress=False)


def test_models_of_different_scales_need_hr_images(models, images):
    mixed = {"x2": models["a"], "x3": tiny(2, scale=3)}
    with pytest.raises(InputError, match=r"different scales \(x2: x2; x3: x3\).*downsample=True"):
        di_table(mixed, images, WINDOWS[:1], progress=False)
    hr = torch.rand(3, 26, 26, generator=torch.Generator().manual_seed(5))  # cropped to 24 = lcm(2, 3) * 4
    table = di_table(mixed, [hr], [(4, 4, 8)], steps=2, downsample=True, progress=False)
    assert list(table.scale) == [2, 3] and table.psnr.notna().all()


def test_an_unreadable_image_in_a_folder_stops_or_is_skipped(tmp_path, models):
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((12, 12, 3)) * 255).astype("uint8")).save(tmp_path / "b.png")
    (tmp_path / "a.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("not an image, ignored")
    with pytest.raises(InputError, match=r"image 0 \(.*a\.png\).*on_error='skip'"):
        di_table(models, tmp_path, [(0, 0, 8)], steps=2, progress=False)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*a\.png"):
        table = di_table(models, tmp_path, [(0, 0, 8)], steps=2, progress=False, on_error="skip")
    assert list(table.image) == [1, 1] and table.file[0].endswith("b.png")


def test_other_bad_arguments(models, images):
    with pytest.raises(InputError, match="backend"):
        di_table(models, images, WINDOWS, backend="spark", progress=False)
    with pytest.raises(InputError, match="address= is for backend='ray'"):
        di_table(models, images, WINDOWS, address="auto", progress=False)
    with pytest.raises(InputError, match=r"\.csv or \.parquet"):
        di_table(models, images, WINDOWS, out="table.xlsx", progress=False)
    with pytest.raises(InputError, match="shape"):
        di_table(models, [torch.rand(24, 24)], WINDOWS, progress=False)


# -- hostile input (issue 17) --------------------------------------------------------------------------------------
def test_a_grid_with_more_windows_than_distinct_places_is_refused_with_the_number_that_fits():
    reference = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match=r"only 36 of its 100 windows are distinct.*'grid:(\d+)'") as info:
        pick_windows(reference, "grid:100", 16)
    best = int(re.search(r"at most 'grid:(\d+)'", str(info.value)).group(1))
    wins = pick_windows(reference, f"grid:{best}", 16)  # the number suggested works and has no repeats
    assert len(wins) == len(set(wins)) == best


def test_an_absurd_grid_is_refused_at_once():
    import time

    t0 = time.perf_counter()
    with pytest.raises(InputError, match="fit at all"):
        pick_windows(torch.rand(3, 32, 32), "grid:1000000000", 16)
    assert time.perf_counter() - t0 < 1


def test_di_table_grid_rows_never_repeat_a_window(models, images):
    table = di_table({"a": models["a"]}, images[:1], "grid:9", steps=1, window_size=8, progress=False)
    assert not table.duplicated(["top", "left", "size"]).any() and len(table) == 9


def test_steps_above_the_ceiling_are_refused_before_reading_an_image(models):
    with pytest.raises(InputError, match="ceiling"):
        di_table(models, ["no-such-file.png"], WINDOWS, steps=10 ** 9, progress=False)
    with pytest.raises(InputError, match="ceiling"):
        di_atlas(models["a"], torch.rand(3, 8, 8), steps=10 ** 9, progress=False)


def test_out_a_folder_is_refused_before_computing(models, images, tmp_path):
    calls = []
    with pytest.raises(InputError, match="is a folder"):
        di_table(models, images, WINDOWS, steps=STEPS, out=tmp_path, progress=False, callback=calls.append)
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_out_equal_to_an_input_file_is_refused(models, tmp_path):
    from PIL import Image

    source = tmp_path / "x.csv"  # an odd name for an image, but the input must never be overwritten
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(source, format="PNG")
    before = source.read_bytes()
    with pytest.raises(InputError, match="is the input"):
        di_table(models, [str(source)], WINDOWS, steps=STEPS, out=tmp_path / "." / "x.csv", progress=False)
    assert source.read_bytes() == before


@pytest.fixture
def finished(models, images, tmp_path):
    """A finished CSV table and its settings file."""
    out = tmp_path / "di.csv"
    di_table({"a": models["a"]}, images[:1], WINDOWS[:2], steps=1, out=out, progress=False)
    return out, tmp_path / "di.csv.json"


def resume(models, images, out):
    return di_table({"a": models["a"]}, images[:1], WINDOWS[:2], steps=1, out=out, progress=False)


def test_a_torn_header_is_a_clear_error_and_the_file_is_kept(models, images, finished):
    out, _ = finished
    out.write_text(",".join(COLUMNS)[:17])
    with pytest.raises(InputError, match=r"header of the table .*di\.csv.* is torn.*delete .*or pass another out="):
        resume(models, images, out)
    assert out.read_text() == ",".join(COLUMNS)[:17]


def test_a_hand_edited_cell_names_the_file_column_and_line(models, images, finished):
    out, _ = finished
    lines = out.read_text().splitlines()
    cells = lines[2].split(",")
    cells[COLUMNS.index("di")] = "about ten"
    lines[2] = ",".join(cells)
    out.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"di\.csv' has 'about ten' in column 'di' on line 3.*delete"):
        resume(models, images, out)


def test_a_torn_settings_file_is_a_clear_error(models, images, finished):
    out, sidecar = finished
    sidecar.write_text(sidecar.read_text()[:25])
    with pytest.raises(InputError, match=r"settings file .*di\.csv\.json.* is damaged .*delete"):
        resume(models, images, out)


def test_the_settings_file_is_written_atomically(models, images, tmp_path, monkeypatch):
    import os as _os

    replaced = []
    real = _os.replace
    monkeypatch.setattr(_os, "replace", lambda a, b: replaced.append((str(a), str(b))) or real(a, b))
    di_table({"a": models["a"]}, images[:1], WINDOWS[:1], steps=1, out=tmp_path / "t.csv", progress=False)
    assert (str(tmp_path / "t.csv.json.tmp"), str(tmp_path / "t.csv.json")) in replaced
    assert json.loads((tmp_path / "t.csv.json").read_text())["settings"]["knobs"]["steps"] == 1


def test_a_foreign_csv_with_a_sidecar_is_refused_untouched(models, images, finished):
    out, _ = finished
    out.write_text("name,value\nx,1\ny")
    with pytest.raises(InputError, match="does not have di_table's columns"):
        resume(models, images, out)
    assert out.read_text() == "name,value\nx,1\ny"


@pytest.mark.parametrize("kwargs, match", [
    (dict(windows=np.array([[0, 0, 8]])), None), (dict(downsample="no"), "downsample must be True or False"),
    (dict(windows=5), "windows must be"), (dict(kernel_size=8), "odd"),
])
def test_di_table_arguments_of_the_wrong_kind(models, images, kwargs, match):
    args = dict(dict(windows=WINDOWS[:1], steps=1, progress=False), **kwargs)
    if match is None:
        assert len(di_table({"a": models["a"]}, images[:1], **args)) == 1
    else:
        with pytest.raises(InputError, match=match):
            di_table({"a": models["a"]}, images[:1], **args)


# -- Ray ------------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'srwidgets[ray]')")
def test_a_ray_address_that_does_not_answer_fails_fast(models, images):
    import time

    t0 = time.perf_counter()
    with pytest.raises(InputError, match="no Ray cluster answers at '127.0.0.1:9'"):
        di_table(models, images, WINDOWS, backend="ray", address="127.0.0.1:9", progress=False)
    assert time.perf_counter() - t0 < 10


@pytest.fixture(scope="module")
def ray_two_workers():
    """A local Ray instance with 2 worker CPUs, shut down after the module."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'srwidgets[ray]')")
def test_ray_backend_gives_the_local_table(models, images, reference, ray_two_workers, tmp_path):
    table = di_table(models, images, WINDOWS, steps=STEPS, backend="ray", out=tmp_path / "di.csv", progress=False)
    assert ray_two_workers.is_initialized()  # an instance di_table did not start is left running
    assert without_seconds(table).equals(without_seconds(reference))
    # windows split over tasks: other crops, the same numbers up to float32 rounding
    split = di_table(models, images, WINDOWS, steps=STEPS, backend="ray", windows_per_task=2, progress=False)
    assert split[["model", "image", "top", "left", "size"]].equals(reference[["model", "image", "top", "left", "size"]])
    np.testing.assert_allclose(split.di, reference.di, rtol=1e-5)
    np.testing.assert_allclose(split.gini, reference.gini, rtol=1e-5)


# -- atlas ----------------------------------------------------------------------------------------------------------
def test_atlas_is_the_di_of_every_window_on_the_stride(models, images):
    atlas = di_atlas(models["a"], images[0], stride=16, size=16, steps=2, progress=False)
    assert atlas.di.shape == (3, 3) and np.asarray(atlas).shape == (3, 3)
    assert atlas.window(2, 1) == (32, 16, 16) and atlas.cell(40, 24) == (2, 1)
    r = LAM(models["a"]).attribute(images[0], (32, 16, 16), steps=2)
    assert atlas.di[2, 1] == pytest.approx(r.diffusion_index, abs=1e-9)


# -- figures --------------------------------------------------------------------------------------------------------
def test_figures_are_built_from_a_table_and_an_atlas(models, images, reference):
    from matplotlib.figure import Figure

    from srwidgets.viz import atlas_figure, di_distribution_figure, di_vs_psnr_figure

    atlas = di_atlas(models["a"], images[0], stride=16, size=16, steps=2, progress=False)
    assert isinstance(atlas_figure(atlas), Figure)
    for kind in ("box", "violin"):
        fig = di_distribution_figure(reference, kind=kind)
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b"]
    with pytest.raises(InputError, match="downsample=True"):
        di_vs_psnr_figure(reference)
    table = reference.assign(psnr=np.where(reference.model == "a", 30.0, 31.0))
    fig = di_vs_psnr_figure(table)
    assert isinstance(fig, Figure) and fig.axes[0].get_ylabel().startswith("PSNR")


# -- CLI ------------------------------------------------------------------------------------------------------------
def test_cli_writes_the_table_and_prints_the_summary(tmp_path, capsys):
    import pandas as pd
    from PIL import Image

    from srwidgets.__main__ import main

    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / "x.png")
    out = tmp_path / "di.csv"
    assert main(["di-table", "--models", "x4-fsrcnn", "--images", str(tmp_path), "--windows", "edges:2",
                 "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "x4-fsrcnn" in printed and "median" in printed
    assert len(pd.read_csv(out)) == 2
    assert main(["di-table", "--models", "x4-fsrcnn", "--images", str(tmp_path), "--windows", "0,0,99",
                 "--out", str(tmp_path / "bad.csv")]) == 2
    assert "does not fit" in capsys.readouterr().err


def test_cli_atlas_writes_one_figure_per_model_and_checks_the_path_first(tmp_path, capsys):
    from PIL import Image

    from srwidgets.__main__ import main

    Image.fromarray((np.random.default_rng(1).random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / "x.png")
    args = ["di-table", "--models", "x4-fsrcnn,x4-edsr-lite", "--images", str(tmp_path / "x.png"), "--windows",
            "edges:1", "--steps", "2", "--out", str(tmp_path / "di.csv"), "--no-progress", "--atlas-stride", "32"]
    assert main(args + ["--atlas", str(tmp_path / "atlas.png")]) == 0
    printed = capsys.readouterr().out
    for name in ("x4-fsrcnn", "x4-edsr-lite"):  # 64x64 SR, windows 16 on a 32 grid: 2x2 cells
        assert (tmp_path / f"atlas_{name}.png").stat().st_size > 1000
        assert re.search(rf"{name}: DI atlas 2x2 windows", printed), printed
    # a bad --atlas is refused before anything is computed (no table written), naming --atlas
    assert main(args[:-2] + ["--out", str(tmp_path / "other.csv"), "--atlas", str(tmp_path / "atlas.txt")]) == 2
    assert "--atlas" in capsys.readouterr().err and not (tmp_path / "other.csv").exists()
