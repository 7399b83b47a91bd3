"""FAIGSession: the FAIG widget's state, jobs and cache without ipywidgets (srwidgets.widgets.faig_session).

The zoo's x2 MSRResNet pair, two 32×32 HR crops, 2 integration steps (as tests/test_widgets_faig.py)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from srwidgets import zoo
from srwidgets.errors import InputError
from srwidgets.faig import FAIG, masked_outputs
from srwidgets.widgets.faig import FAIGWidget
from srwidgets.widgets.faig_session import FAIGSession

from test_widgets_faig import CROPS, N_FILTERS


@pytest.fixture
def pair():
    return zoo.faig_pair()


def test_the_session_runs_without_ipywidgets_in_a_fresh_interpreter():
    """ipywidgets and ipycanvas blocked (an import of either fails): the session imports, runs and reports."""
    code = textwrap.dedent("""
        import json, sys
        sys.modules["ipywidgets"] = None
        sys.modules["ipycanvas"] = None
        from srwidgets import zoo
        from srwidgets.data import image
        from srwidgets.widgets.faig_session import FAIGSession
        crops = [image(n)[:, 64:96, 64:96] for n in ("astronaut", "chelsea")]
        s = FAIGSession(*zoo.faig_pair(), crops)
        s.set(degradation="blur", steps=2, fraction=0.02, lam=0.5, image_index=1)
        view = s.run()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "ipycanvas") and sys.modules[m])
        print(json.dumps(dict(psnrs=view["psnrs"], masked=len(s.masked_filters), counts=sum(s.layer_counts.values()),
                              steps=view["steps"], image=view["image"], lam=view["lam"], loaded=loaded)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == []
    assert got["masked"] == got["counts"] == int(N_FILTERS * 0.02) and got["steps"] == 2
    assert got["image"] == 1 and got["lam"] == 0.5
    assert set(got["psnrs"]) == {"input", "target", "masked"} and all(np.isfinite(v) for v in got["psnrs"].values())


def test_the_session_gives_what_the_widget_shows(pair):
    """The same settings in the session and in the widget: the same masked filters, images and PSNRs."""
    w = FAIGWidget(*pair, CROPS, steps=2, fraction=0.03, method="weight_diff", lam=0.25)
    try:
        assert w.wait(60) and not w.error, w.error
        s = FAIGSession(*pair, CROPS)
        s.set(steps=2, fraction=0.03, method="weight_change", lam=0.25)
        view = s.run()
        assert s.method == "weight_diff" and view["psnrs"] == w.psnrs
        assert s.masked_filters == w.masked_filters and s.layer_counts == w.layer_counts
        for k in ("input", "target", "masked"):
            torch.testing.assert_close(s.outputs[k], w.outputs[k], rtol=0, atol=0)
    finally:
        w.close()


def test_scores_are_kept_and_masking_follows_the_settings(pair, monkeypatch):
    calls = []
    original = FAIG.attribute
    monkeypatch.setattr(FAIG, "attribute", lambda self, *a, **k: calls.append(k["steps"]) or original(self, *a, **k))
    s = FAIGSession(*pair, CROPS)
    s.set(steps=2)
    first = s.run()
    assert calls == [2] and s.cached_scores() is first["result"] is s.result
    s.set(fraction=0.005, lam=1.0)
    view = s.run()
    assert calls == [2] and view["fraction"] == 0.005 and len(s.masked_filters) == 88
    expected, _ = masked_outputs(s.engine, view["chosen"], 1.0, s.lr["noise"][0], s.hr[0])
    torch.testing.assert_close(s.outputs["masked"], expected["masked"])
    s.set(layer=s.layers[3])
    assert s.top_filters() == [f for f in s.masked_filters if f[0] == s.layers[3]]


def test_a_bad_setting_is_refused_and_nothing_is_set(pair):
    s = FAIGSession(*pair, CROPS)
    with pytest.raises(InputError, match=r"fraction must be in \[0, 0.1\]"):
        s.set(steps=3, fraction=0.5)
    assert s.steps == 100 and s.fraction == 0.01
    with pytest.raises(InputError, match="unknown setting 'size'"):
        s.set(size=3)
    with pytest.raises(InputError, match="nothing to save yet"):
        s.save_scores("scores.json")
