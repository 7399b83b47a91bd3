"""Check a member of the window-attribution family through every surface, on a tiny real model.

    >>> from srwidgets.testing import check_member
    >>> check_member(MyMethod, knobs={"patch": 2})          # doctest: +SKIP

:func:`check_member` runs the member ``cls`` (registered for the call under its ``name`` when it is not already)
through :func:`srwidgets.attribute`, the LAM widget (``LAMWidget(model, lr, methods=[name])``, headless: built,
run, waited for), the command line (``python -m srwidgets lam IMAGE --model x4-fsrcnn --window T,L,S --method
name --<knob> V``, in this process so that a member registered here is known) and ``srwidgets.batch.di_table``,
on ``x4-fsrcnn`` (16k parameters) and a 24x24 LR crop of a bundled image. It asserts that every surface returns a
map ``[h, w]`` in [0, 1] with a finite DI, and that the widget's and ``di_table``'s numbers equal
``srwidgets.attribute``'s. Use it in a plugin's tests. (It lives above every package it drives, so that no
package imports the ones built on it.)
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from typing import Optional

import torch

__all__ = ["check_member", "tiny_problem"]


def tiny_problem(name: str = "astronaut"):
    """``(model, lr [3, 24, 24], hr [3, 96, 96])``: ``x4-fsrcnn`` and a 96x96 HR crop of a bundled image with its
    antialiased bicubic x4 LR (clamped to [0, 1])."""
    from . import data, degrade, zoo

    hr = data.image(name, modcrop=4)[:, 64:160, 64:160].contiguous()
    return zoo.load("x4-fsrcnn"), degrade.bicubic_down(hr, 4).clamp(0, 1), hr


def _check_map(where: str, r, shape) -> None:
    m = r.map
    assert tuple(m.shape) == tuple(shape), f"{where}: map shape {tuple(m.shape)}, expected {tuple(shape)}"
    assert bool(torch.isfinite(m).all()) and float(m.min()) >= 0 and float(m.max()) <= 1, \
        f"{where}: the map must be finite and in [0, 1]"
    assert math.isfinite(r.diffusion_index), f"{where}: DI {r.diffusion_index} is not finite"


def _flags(knobs: dict) -> list:
    out = []
    for k, v in knobs.items():
        out += [f"--{k.replace('_', '-')}", ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)]
    return out


def check_member(cls, name: Optional[str] = None, knobs: Optional[dict] = None, *, window=(32, 32, 16),
                 widget: bool = True, cli: bool = True, table: bool = True, atol: float = 1e-6) -> dict:
    """Run member ``cls`` through ``srwidgets.attribute``, the LAM widget, the CLI and ``di_table`` (see the module
    docstring); returns ``{"attribute": result, "widget": result, "cli": stdout, "table": DataFrame}``.

    Args:
        cls: a :class:`~srwidgets.attribution.WindowMethod` subclass.
        name: its method name (default ``cls.name``).
        knobs: its knobs for the run (checked by :func:`srwidgets.attribution.check_knobs`); scalars, so that they
            can be CLI flags too.
        window: ``(top, left, size)`` in SR pixels of the 96x96 SR image (on CEM's 8-px grid by default).
        widget, cli, table: which surfaces to run besides ``srwidgets.attribute``.
        atol: how close the widget's and the table's numbers must be to ``srwidgets.attribute``'s.

    Raises:
        AssertionError: a surface failed, saying which and why.
    """
    import srwidgets

    from .attribution import check_knobs, members, register, unregister

    name = name or cls.name
    knobs = check_knobs(cls, dict(knobs or {}))
    added = name not in members()
    if added:
        register(name, cls)
    elif members()[name] is not cls:
        raise AssertionError(f"another class is registered as {name!r}; pass name= to check this one")
    try:
        model, lr, hr = tiny_problem()
        extra = {"hr": hr} if cls.needs_hr else {}
        out = {"attribute": srwidgets.attribute(model, lr, window, method=name, **knobs, **extra)}
        _check_map("srwidgets.attribute", out["attribute"], lr.shape[1:])
        if widget:
            out["widget"] = _widget(model, lr, hr, window, name, knobs, cls.needs_hr)
            _check_map("LAMWidget", out["widget"], lr.shape[1:])
            diff = float((out["widget"].map - out["attribute"].map).abs().max())
            assert diff <= atol, f"LAMWidget's map differs from srwidgets.attribute's by {diff:.3g}"
        if cli:
            out["cli"] = _cli(lr, hr, window, name, knobs, cls.needs_hr)
        if table:
            out["table"] = _table(model, lr, hr, window, name, knobs, cls.needs_hr)
            di = float(out["table"]["di"].iloc[0])
            assert abs(di - out["attribute"].diffusion_index) <= max(atol, 1e-4) * 100, \
                f"di_table's DI {di} differs from srwidgets.attribute's {out['attribute'].diffusion_index}"
        return out
    finally:
        if added:
            unregister(name)


def _widget(model, lr, hr, window, name, knobs, needs_hr):
    from .widgets.lam import LAMWidget

    w = LAMWidget(model, lr, methods=[name], window=window, knobs={name: dict(knobs)} if knobs else {},
                  **({"hr": hr} if needs_hr else {}))
    try:
        assert w.wait(300), "LAMWidget: the job did not finish in 300 s"
        assert not w.error, f"LAMWidget: {w.error}"
        key = (w.names[0], name)
        assert key in w.panel_results, f"LAMWidget: no result for {key}"
        return w.panel_results[key]
    finally:
        w.cancel()
        w.wait(30)


def _save(t: torch.Tensor, path: str) -> str:
    from PIL import Image

    Image.fromarray((t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()).save(path)
    return path


def _cli(lr, hr, window, name, knobs, needs_hr) -> str:
    from .__main__ import main

    with tempfile.TemporaryDirectory() as tmp:
        args = ["lam", _save(lr, os.path.join(tmp, "lr.png")), "--model", "x4-fsrcnn",
                "--window", ",".join(map(str, window)), "--method", name, "--out", os.path.join(tmp, "map.png")]
        if needs_hr:
            args += ["--hr", _save(hr, os.path.join(tmp, "hr.png"))]
        args += _flags(knobs)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                rc = main(args)
            except SystemExit as exc:  # argparse: an unknown flag
                rc = exc.code
        assert rc in (0, None), f"python -m srwidgets {' '.join(args)} exited {rc}: {stderr.getvalue().strip()}"
        assert os.path.exists(os.path.join(tmp, "map.png")), "the CLI wrote no figure"
        return stdout.getvalue()


def _table(model, lr, hr, window, name, knobs, needs_hr):
    from .batch import di_table

    return di_table({"x4-fsrcnn": model}, [lr], windows=[window], method=name, progress=False,
                    **({"hr": [hr]} if needs_hr else {}), **knobs)
