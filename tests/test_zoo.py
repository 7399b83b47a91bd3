"""The shipped zoo: every listed model loads, passes ``check``, is small, documents itself, and still beats bicubic
on the held-out images by at least what its manifest promises. Runs over whatever ``zoo.list()`` holds (the zoo
may be mid-training); ``test_all_recipes_are_shipped`` requires the full set."""
import json
import shutil

import pytest
import torch

from srwidgets import models, zoo
from srwidgets.errors import InputError
from srwidgets.zoo import train as T

torch.set_num_threads(1)

NAMES = zoo.list()
REQUIRED = ("arch", "scale", "training_images", "degradation", "steps", "seed", "train_seconds", "eval", "min_gain_db")
# A public model (no recipe in zoo.train: trained by others) documents where it comes from and its licence instead.
REQUIRED_PUBLIC = ("arch", "config", "scale", "parameters", "size_bytes", "trained_by", "source", "licence",
                   "licence_file", "licence_notice", "degradation", "eval", "min_gain_db", "min_gain_on")
PUBLIC = {"x4-rfdn": "RFDN authors", "x4-carn-m": "CARN authors"}  # the public models we ship, and who trained them


def _is_public(name):
    return name not in T.RECIPES


@pytest.fixture(scope="module")
def loaded():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = zoo.load(name)
        return cache[name]

    return get


def test_all_recipes_are_shipped():
    """Fails until ``python -m srwidgets.zoo.train all`` has written all six models. Every other zoo model is a
    public one (no recipe: trained by others), and only the ones listed in ``PUBLIC`` with the trainer its manifest
    names."""
    assert set(T.RECIPES) == {"x4-fsrcnn", "x4-edsr-lite", "x4-rcan-lite", "x2-srresnet-bicubic", "x2-srresnet-blind",
                              "x2-srresnet-nogr"}
    missing = sorted(set(T.RECIPES) - set(zoo.list()))
    assert not missing, f"zoo models not trained/shipped yet: {missing}"
    public = {n: zoo.info(n).get("trained_by") for n in zoo.manifest() if _is_public(n)}
    assert public == PUBLIC, f"zoo models without a recipe in zoo.train must be known public models: {public}"
    assert set(PUBLIC) <= set(zoo.list()), "a public model's weights are missing"
    for n in T.RECIPES:
        assert "trained_by" not in zoo.info(n), f"{n} is trained by a recipe of ours"


@pytest.mark.parametrize("name", NAMES)
def test_loads_in_eval_mode_and_passes_check(name, loaded):
    model = loaded(name)
    e = zoo.info(name)
    assert not model.training and all(not m.training for m in model.modules())
    assert isinstance(model.scale, int) and model.scale == e["scale"]
    assert model.arch == e["arch"] and model.zoo_name == name
    assert models.check(model, model.scale) == model.scale
    assert models.infer_scale(model) == model.scale


@pytest.mark.parametrize("name", NAMES)
def test_small_on_disk(name):
    e = zoo.info(name)
    path = T.ZOO_DIR / e["file"]
    assert path.stat().st_size <= 2 * 1024 * 1024
    assert e.get("size_bytes", path.stat().st_size) == path.stat().st_size


@pytest.mark.parametrize("name", [n for n in NAMES if _is_public(n)])
def test_public_manifest_fields_and_licence(name, loaded):
    e = zoo.info(name)
    missing = [k for k in REQUIRED_PUBLIC if k not in e]
    assert not missing, f"{name}: manifest lacks {missing}"
    assert e["trained_by"] == PUBLIC[name] and e["source"] and e["licence"]
    # The licence notice ships in the package (and in the manifest), word for word.
    notice = (T.ZOO_DIR / e["licence_file"]).read_text()
    assert e["licence_notice"] == notice and "Permission is hereby granted" in notice and "Copyright" in notice
    model = loaded(name)
    assert e["parameters"] == sum(p.numel() for p in model.parameters())
    assert json.loads(json.dumps(model.config)) == e["config"]
    assert e["min_gain_on"] == T.GAIN_ON[e["degradation"]]
    for kind in T.EVAL_KINDS[e["degradation"]]:
        assert "gain_db" in e["eval"][kind] and "ssim_mean" in e["eval"][kind]
        assert e["eval"][kind]["images"] == ["chelsea", "coffee"]
    assert all(e["min_gain_db"] <= e["eval"][kind]["gain_db"] for kind in e["min_gain_on"])


def test_package_data_ships_the_licence_notices():
    pyproject = T.ZOO_DIR.parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout (no pyproject.toml)")
    text = pyproject.read_text()
    assert '"zoo/LICENSE-*"' in text
    for name in PUBLIC:
        assert zoo.info(name)["licence_file"].startswith("LICENSE-")


@pytest.mark.parametrize("name", [n for n in NAMES if not _is_public(n)])
def test_manifest_fields(name, loaded):
    e = zoo.info(name)
    missing = [k for k in REQUIRED if k not in e]
    assert not missing, f"{name}: manifest lacks {missing}"
    r = T.RECIPES[name]
    assert e["arch"] == r["arch"] and e["scale"] == r["scale"] and e["degradation"] == r["degradation"]
    assert e["seed"] == r["seed"] and isinstance(e["steps"], int) and e["steps"] > 0
    assert isinstance(e["training_images"], list) and e["training_images"]
    assert not set(e["training_images"]) & {"chelsea", "coffee"}  # held-out images never trained on
    assert e["train_seconds"] > 0
    assert e["min_gain_on"] == T.GAIN_ON[r["degradation"]]
    for kind in T.EVAL_KINDS[r["degradation"]]:
        assert "gain_db" in e["eval"][kind] and "ssim_mean" in e["eval"][kind]
    assert all(e["min_gain_db"] <= e["eval"][kind]["gain_db"] for kind in e["min_gain_on"])
    assert json.loads(json.dumps(loaded(name).config)) == e["config"]  # JSON turns tuples into lists


@pytest.mark.parametrize("name", NAMES)
def test_held_out_gain_over_bicubic(name, loaded):
    # Recompute the held-out PSNR/SSIM on the inputs the manifest promises a gain on (bicubic-degraded for the x4
    # models, blurry and noisy for the blind FAIG target) and hold the model to that promise.
    e = zoo.info(name)
    assert e["min_gain_on"], "the manifest names no inputs to check"
    for kind in e["min_gain_on"]:
        res = T.evaluate(loaded(name), e["scale"], kind)
        assert res["images"] == ["chelsea", "coffee"]
        assert res["gain_db"] > 0, f"{name} does not beat bicubic on {kind} inputs"
        assert res["gain_db"] >= e["min_gain_db"], f"{name} on {kind}: {res['gain_db']:.3f} dB < promised {e['min_gain_db']} dB"
        assert res["psnr_mean"] == pytest.approx(e["eval"][kind]["psnr_mean"], abs=0.05)
        assert res["ssim_mean"] == pytest.approx(e["eval"][kind]["ssim_mean"], abs=2e-3)


def test_x4_models_beat_bicubic_clearly():
    # The bar for the LAM comparison models: a clear margin on held-out natural images.
    for name in [n for n in NAMES if zoo.info(n)["scale"] == 4]:
        assert zoo.info(name)["min_gain_db"] >= 0.5, name


@pytest.mark.skipif(not set(zoo.FAIG_PAIR) <= set(NAMES), reason="FAIG pair not trained yet (see test_all_recipes_are_shipped)")
def test_faig_pair():
    base, target = zoo.faig_pair()
    assert base.arch == target.arch == "MSRResNet" and base.scale == target.scale == 2
    assert base.config == target.config
    sb, st = base.state_dict(), target.state_dict()
    assert sb.keys() == st.keys() and all(sb[k].shape == st[k].shape for k in sb)
    assert any(not torch.equal(sb[k], st[k]) for k in sb)
    assert zoo.info(zoo.FAIG_PAIR[1])["init"] == zoo.FAIG_PAIR[0]


NOGR_PAIR = ("x2-srresnet-bicubic", "x2-srresnet-nogr")  # the DDR global-residual contrast


def test_nogr_recipe_is_the_bicubic_recipe_without_global_residual():
    base, nogr = T.RECIPES[NOGR_PAIR[0]], T.RECIPES[NOGR_PAIR[1]]
    assert nogr["config"] == dict(base["config"], global_residual=False)
    assert base["config"].get("global_residual", True) is True
    assert {k: v for k, v in nogr.items() if k not in ("config", "note")} == \
        {k: v for k, v in base.items() if k not in ("config", "note")}
    assert nogr.get("init") is None  # trained from scratch, like the baseline


@pytest.mark.skipif(not set(NOGR_PAIR) <= set(NAMES), reason="x2-srresnet-bicubic / x2-srresnet-nogr not trained yet")
def test_nogr_has_no_global_residual(loaded):
    base, nogr = loaded(NOGR_PAIR[0]), loaded(NOGR_PAIR[1])
    assert base.global_residual is True and nogr.global_residual is False
    assert zoo.info(NOGR_PAIR[1])["config"]["global_residual"] is False  # the checkpoint record says so, too
    # Same architecture, scale, width, depth and parameter count: only the global residual differs.
    assert nogr.arch == base.arch == "MSRResNet" and nogr.scale == base.scale == 2
    assert nogr.config == dict(base.config, global_residual=False)
    assert nogr.config["num_feat"] == 32 and nogr.config["num_block"] == 6
    sb, sn = base.state_dict(), nogr.state_dict()
    assert sb.keys() == sn.keys() and all(sb[k].shape == sn[k].shape for k in sb)
    n_params = sum(p.numel() for p in nogr.parameters())
    assert n_params == sum(p.numel() for p in base.parameters())
    assert zoo.info(NOGR_PAIR[1])["parameters"] == zoo.info(NOGR_PAIR[0])["parameters"] == n_params
    eb, en = zoo.info(NOGR_PAIR[0]), zoo.info(NOGR_PAIR[1])
    for k in ("degradation", "steps", "batch", "hr_patch", "lr", "seed", "training_images", "init"):
        assert en[k] == eb[k], k
    # Its forward really lacks the residual: the same weights with the residual switched on add exactly the
    # bilinearly upsampled input.
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    with_gr = models.build("MSRResNet", **dict(nogr.config, global_residual=True)).eval()
    with_gr.load_state_dict(sn)
    with torch.inference_mode():
        out_nogr, out_gr, out_base = nogr(x), with_gr(x), base(x)
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(out_gr - out_nogr, up, atol=1e-5)
    # And it is a different model from the baseline.
    assert out_nogr.shape == out_base.shape == (1, 3, 40, 48)
    assert (out_nogr - out_base).abs().max() > 1e-2


def test_unknown_name():
    with pytest.raises(InputError, match="no zoo model 'x9-nope'; available"):
        zoo.info("x9-nope")
    with pytest.raises(InputError, match="no zoo model"):
        zoo.load("x9-nope")


def test_list_is_sorted_and_in_manifest():
    assert NAMES == sorted(NAMES) and set(NAMES) <= set(zoo.manifest())
    assert all((T.ZOO_DIR / zoo.manifest()[n]["file"]).is_file() for n in NAMES)


def test_fine_tune_without_its_init_stops_early(tmp_path):
    with pytest.raises(SystemExit, match="x2-srresnet-blind fine-tunes x2-srresnet-bicubic: train that first"):
        T.train("x2-srresnet-blind", out_dir=tmp_path, steps=1)
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.slow
def test_train_smoke(tmp_path):
    pytest.importorskip("skimage")
    entry = T.train("x4-fsrcnn", out_dir=tmp_path, steps=3, log_every=1)
    wpath = tmp_path / "weights" / "x4-fsrcnn.pth"
    assert wpath.is_file() and entry["file"] == "weights/x4-fsrcnn.pth"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(manifest) == ["x4-fsrcnn"] and manifest["x4-fsrcnn"]["steps"] == 3
    assert all(k in manifest["x4-fsrcnn"] for k in REQUIRED)
    model = models.load(str(wpath))
    assert model.arch == "FSRCNN" and model.scale == 4 and models.check(model, 4) == 4
    assert entry["size_bytes"] == wpath.stat().st_size


@pytest.mark.slow
@pytest.mark.skipif("x2-srresnet-bicubic" not in NAMES, reason="needs the shipped x2-srresnet-bicubic weights")
def test_train_smoke_fine_tune(tmp_path):
    pytest.importorskip("skimage")
    (tmp_path / "weights").mkdir()
    shutil.copy(T.ZOO_DIR / "weights" / "x2-srresnet-bicubic.pth", tmp_path / "weights")
    entry = T.train("x2-srresnet-blind", out_dir=tmp_path, steps=2, log_every=1)
    assert entry["init"] == "x2-srresnet-bicubic" and set(entry["eval"]) == {"clean", "blur", "noise"}
    assert (tmp_path / "weights" / "x2-srresnet-blind.pth").is_file()
