"""LAMSession: the LAM widget's state, jobs and cache without ipywidgets (srwidgets.widgets.lam_session).

Tiny models (EDSR 8 features, 2 blocks, x4; as tests/test_widgets_lam.py), 16 px LR images, 2-4 integration steps;
the zoo's x4 FSRCNN where a fresh interpreter runs the session."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import srwidgets
from srwidgets.batch import di_atlas
from srwidgets.errors import Cancelled, InputError
from srwidgets.lam import LAM
from srwidgets.progress import CancelToken
from srwidgets.widgets.lam import LAMWidget
from srwidgets.widgets.lam_session import SETTINGS, LAMSession

from test_widgets_lam import image, tiny  # noqa: F401  (fixtures)

WINDOW = (16, 16, 16)


def test_the_session_runs_without_ipywidgets_in_a_fresh_interpreter():
    """Importing the session loads no ipywidgets, ipycanvas or traitlets; with them blocked (an import of any fails)
    it runs a window of a real zoo model by two methods and hits its cache."""
    code = textwrap.dedent("""
        import json, sys
        import srwidgets.widgets.lam_session
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "ipycanvas", "traitlets"))
        for name in ("ipywidgets", "ipycanvas", "traitlets"):
            sys.modules[name] = None
        from srwidgets.data import lr_image
        from srwidgets.widgets.lam_session import LAMSession
        s = LAMSession("x4-fsrcnn", lr_image("astronaut", 4))
        s.set(steps=4, methods=["lam", "gradient"], window=(120, 96, 16))
        results = s.run()
        again = s.run((120, 96, 16, 16))
        print(json.dumps(dict(loaded=loaded, keys=[list(k) for k in results],
                              di={m: r.diffusion_index for (n, m), r in results.items()},
                              same=all(again[k] is results[k] for k in results), engines=sorted(s.engines))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == []
    assert got["keys"] == [["x4-fsrcnn", "lam"], ["x4-fsrcnn", "gradient"]]
    assert all(0 < di < 100 for di in got["di"].values()), got["di"]
    assert got["same"] and got["engines"] == ["x4-fsrcnn"]


def test_a_window_gives_each_panel_the_engines_result(image):
    model = tiny()
    s = LAMSession(model, image)
    s.set(steps=4, methods=["lam", "ig"], knobs={"ig": {"baseline": "black"}})
    seen = []
    results = s.run(WINDOW, callback=seen.append)
    name = s.names[0]
    assert list(results) == [(name, "lam"), (name, "ig")] and s.panel_results == results
    ref = srwidgets.attribute(model, image, WINDOW, "lam", steps=4, device="cpu")
    torch.testing.assert_close(results[name, "lam"].map, ref.map)
    ref = srwidgets.attribute(model, image, WINDOW, "ig", steps=4, baseline="black", device="cpu")
    torch.testing.assert_close(results[name, "ig"].map, ref.map)
    # progress counts over both panels, names the panel and carries its key
    assert seen and seen[-1].done == seen[-1].total and {p.info["key"] for p in seen} == set(results)
    assert all(a.done / a.total <= b.done / b.total for a, b in zip(seen, seen[1:]))


def test_the_session_gives_what_the_widget_shows(image):
    model = tiny()
    w = LAMWidget(model, image, steps=3, methods=["lam", "gradient"], window=(8, 8, 16))
    try:
        assert w.wait(60) and not w.error, w.error
        assert w.session.methods == ("lam", "gradient") and w.session.steps == 3
        assert w.session.window == (8, 8, 16, 16) and w.session.panel_results == w.panel_results
        s = LAMSession(model, image)
        s.set(steps=3, methods=("lam", "gradient"))
        got = s.run((8, 8, 16))
        assert list(got) == list(w.panel_results)
        for key, res in got.items():
            torch.testing.assert_close(res.map, w.panel_results[key].map, rtol=0, atol=0)
    finally:
        w.close()


def test_a_cached_window_returns_the_identical_results(image):
    calls = []
    s = LAMSession(tiny(), image)
    s.set(steps=2, methods=["lam", "gradient"])
    first = s.run(WINDOW, callback=calls.append)
    n = len(calls)
    again = s.run(WINDOW, callback=calls.append)
    assert len(calls) == n  # nothing computed
    assert all(again[k] is first[k] for k in first)
    s.set(steps=3)  # another knob of LAM: LAM again, the gradient (which has no steps) from the cache
    third = s.run(WINDOW)
    name = s.names[0]
    assert third[name, "lam"] is not first[name, "lam"] and third[name, "gradient"] is first[name, "gradient"]


def test_a_bad_setting_raises_and_sets_nothing(image):
    s = LAMSession(tiny(), image)
    with pytest.raises(InputError, match="kernel_size must be an odd integer"):
        s.set(steps=4, kernel_size=4)
    with pytest.raises(InputError, match="unknown setting 'alpha'"):
        s.set(steps=4, alpha=0.5)
    with pytest.raises(InputError, match="window"):
        s.set(window=(60, 60, 16))  # the SR image is 64 px: the window leaves it
    with pytest.raises(InputError, match="knobs\\['ig'\\]: unknown option 'cancel'"):
        s.set(knobs={"ig": {"cancel": None}})
    with pytest.raises(InputError, match="window_size must be an integer >= 2 and <= 64"):
        s.set(window_size=65)
    assert {n: getattr(s, n) for n in SETTINGS} == SETTINGS  # every setting as it was
    with pytest.raises(InputError, match="no window"):
        s.run()


def test_methods_without_lam_build_no_lam_engine(image):
    s = LAMSession(tiny(), image, lam_options={"device": "cpu"})
    s.set(methods=["gradient", "erf"], steps=2)
    results = s.run(WINDOW)
    assert s.engines == {} and len(results) == 2
    s.set(methods=["gradient", "lam"])
    assert isinstance(s.engines[s.names[0]], LAM)


def test_a_bad_lam_option_is_refused_when_lam_is_set(image):
    s = LAMSession(tiny(), image, lam_options={"autocast": True, "device": "cpu"})
    with pytest.raises(InputError, match="autocast"):
        s.set(methods=["gradient", "lam"])
    assert s.methods == ("lam",) and s.engines == {}
    with pytest.raises(InputError, match="lam_options: unknown 'steps'"):
        LAMSession(tiny(), image, lam_options={"steps": 4})


def test_the_users_model_and_image_are_left_as_they_came(image):
    model = tiny().train()
    model.body[0].conv1.weight.requires_grad_(False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    lr = image.clone()
    s = LAMSession(model, image)
    s.set(steps=2, methods=["lam", "gradient"], atlas_stride=32, window_size=32)
    s.run(WINDOW)
    s.erf(WINDOW)
    s.atlas()
    s.preview()
    assert model.training and {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(image, lr)


def test_erf_atlas_and_preview(image):
    model = tiny()
    s = LAMSession(model, image)
    s.set(steps=2, atlas_stride=16, window_size=32)
    erf = s.erf(WINDOW)
    ref = srwidgets.attribute(model, image, WINDOW, "erf", device="cpu")
    torch.testing.assert_close(erf[s.names[0]].map, ref.map)
    assert s.cached_erf(WINDOW)[s.names[0]] is erf[s.names[0]] is s.erf((16, 16, 16, 16))[s.names[0]]
    assert s.cached_atlas() is None
    atlas = s.atlas()
    want = di_atlas({s.names[0]: model}, image, **s.atlas_settings())
    assert atlas.di.shape == (3, 3)
    np.testing.assert_array_equal(atlas.di, want.di)
    assert s.atlas() is atlas and s.cached_atlas() is atlas
    sr = s.preview()
    assert sr.shape == (3, 64, 64) and sr.dtype == torch.float32 and 0 <= sr.min() and sr.max() <= 1


def test_a_cancelled_window_keeps_nothing(image):
    s = LAMSession(tiny(), image)
    s.set(steps=8)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        s.run(WINDOW, cancel=token)
    assert s.plan(WINDOW).cached == {} and s.panel_results == {}


def test_a_method_that_needs_the_hr_image_is_left_out_without_it(image):
    s = LAMSession(tiny(), image)
    s.set(methods=["gradient", "cem"], steps=2)
    plan = s.plan(WINDOW)
    name = s.names[0]
    assert plan.missing_hr == [(name, "cem")] and plan.todo == [(name, "gradient")]
    assert list(s.run(WINDOW)) == [(name, "gradient")] and s.trust_methods() == ["gradient"]
    with pytest.raises(InputError, match="hr must be the HR image of the input, 64x64"):
        LAMSession(tiny(), image, hr=torch.rand(3, 32, 32))


def test_the_trust_report_of_the_window(image):
    from srwidgets.trust import report

    model = tiny()
    s = LAMSession(model, image, hr=torch.rand(3, 64, 64))
    s.set(methods=["ig"], steps=2, knobs={"ig": {"baseline": "black"}}, window=WINDOW)
    seen = []
    tables = s.trust(callback=seen.append)
    df = tables[s.names[0]]
    assert list(tables) == s.names and set(df.index) == {"ig"}
    assert [(p.done, p.total) for p in seen] and all(p.total == 1 for p in seen)
    want = report(model, image, WINDOW, methods=["ig"], hr=s.hr, device="cpu",
                  knobs={"ig": {"steps": 2, "sigma": 1.2, "kernel_size": 9, "baseline": "black"}})
    assert list(df["verdict"]) == list(want["verdict"]) and np.allclose(df["score"], want["score"], equal_nan=True)
    with pytest.raises(InputError, match="no window"):
        LAMSession(model, image).trust()
