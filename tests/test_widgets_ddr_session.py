"""DDRSession: the DDR widget's state, jobs and cache without ipywidgets (srwidgets.widgets.ddr_session).
Tiny models (EDSR 8 features, 2 blocks, x2) on three 32 px HR images: 9 points (as tests/test_widgets_ddr.py)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from srwidgets.errors import InputError
from srwidgets.widgets.ddr import DDRWidget
from srwidgets.widgets.ddr_session import DDRSession

from test_widgets_ddr import IMAGES, tiny


def test_the_session_runs_without_ipywidgets_in_a_fresh_interpreter():
    """ipywidgets and ipycanvas blocked (an import of either fails): the session imports, runs and reports."""
    code = textwrap.dedent("""
        import json, sys
        sys.modules["ipywidgets"] = None
        sys.modules["ipycanvas"] = None
        import numpy as np, torch
        from srwidgets.models import build
        from srwidgets.widgets.ddr_session import DDRSession
        torch.manual_seed(0)
        model = build("EDSR", num_feat=8, num_block=2, upscale=2).eval()
        images = [np.random.default_rng(i).random((32, 32, 3)) for i in range(3)]
        s = DDRSession({"a": model}, images)
        s.set(layer="body.1", method="pca", selected=4)
        results, embedded = s.run()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "ipycanvas") and sys.modules[m])
        print(json.dumps(dict(layers=results["a"].layers, labels=results["a"].labels, shape=embedded["a"].shape,
                              selected=s.selected, rows=len(s.table()), loaded=loaded)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == []
    assert got["layers"] == ["body.0", "body.1", "conv_after_body"] and got["shape"] == [9, 2]
    assert sorted(set(got["labels"])) == ["blur", "clean", "noise"] and got["selected"] == 4 and got["rows"] == 3


def test_the_session_gives_what_the_widget_shows():
    """The same models, images and settings: the same CHI per layer and the same embedding as the widget's."""
    w = DDRWidget(tiny(), IMAGES, layer="body.0")
    try:
        assert w.wait(60) and not w.error, w.error
        s = DDRSession(tiny(), IMAGES)
        assert s.layer == "conv_after_body"  # the deepest by default, as the widget
        s.set(layer="body.0")
        results, embedded = s.run()
        (name,), res = s.names, w.result
        assert results[name].chi_degradation == res.chi_degradation and results[name].chi_image == res.chi_image
        np.testing.assert_array_equal(embedded[name], res.embed("body.0", "pca"))
        assert s.table().equals(w.table())
    finally:
        w.close()


def test_inputs_are_built_once_and_again_when_replaced():
    s = DDRSession(tiny(), IMAGES)
    first = s.inputs()
    assert s.inputs() is first and s.points() == 9
    s.images = IMAGES[:2]
    assert s.inputs() is not first and s.points() == 6
    s.run()
    assert len(s.result.labels) == 6


def test_a_bad_setting_is_refused_and_nothing_is_set():
    s = DDRSession(tiny(), IMAGES)
    with pytest.raises(InputError, match="perplexity must be a number in"):
        s.set(method="tsne", perplexity=0)
    assert s.method == "pca" and s.perplexity == 30.0
    with pytest.raises(InputError, match=r"selected must be a point index in \[0, 8\]"):
        s.set(selected=9)
    with pytest.raises(InputError, match="unknown setting 'size'"):
        s.set(size=3)
    with pytest.raises(InputError, match="nothing to export yet"):
        s.table()


def test_a_cancel_during_tsne_returns_at_once_and_the_next_embedding_waits_for_it():
    """scikit-learn's t-SNE never looks at a token: the session runs it through progress.wait_cancellable, so a
    cancel returns within the poll interval, and the next embedding starts only once the abandoned one ended."""
    import threading
    import time

    from srwidgets.errors import Cancelled
    from srwidgets.progress import CancelToken
    from srwidgets.widgets.ddr_session import EMBED_LOCK

    s = DDRSession(tiny(), IMAGES)
    s.run()
    (name, res), = s.results.items()
    res.features[s.layer] = np.random.default_rng(0).normal(size=(700, 16))  # a t-SNE of ~1 s
    s.set(method="tsne")
    token = CancelToken()

    def cancel_once_tsne_runs():  # the cancel arrives while t-SNE holds the lock, however fast the machine
        while not EMBED_LOCK.locked():
            time.sleep(0.001)
        token.cancel()

    threading.Thread(target=cancel_once_tsne_runs, daemon=True).start()
    with pytest.raises(Cancelled):
        s.embed(s.results, cancel=token)
    assert EMBED_LOCK.locked()  # it returned while t-SNE goes on in the background, holding the lock
    y = s.embed(s.results, cancel=CancelToken())[name]  # waits for it, then reads what it cached
    assert y.shape == (700, 2) and not EMBED_LOCK.locked()
