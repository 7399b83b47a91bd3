"""trust.report / trust.table skip, with the reason, a member that cannot run on the window (instead of failing the
whole table): CEM on a window off its block grid, or without the HR image."""
import torch

from srwidgets import data, trust, zoo


def test_report_skips_cem_off_its_block_grid_and_runs_it_on_the_grid():
    model = zoo.load("x4-fsrcnn")
    lr = data.lr_image("astronaut", 4)
    hr = data.image("astronaut")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    off = trust.report(model, lr, (98, 84, 16), ["gradient", "cem"], hr=hr, checks=("stratified",), seeds=2,
                       knobs={"cem": {"fine": 4, "coarse": 1}})
    assert list(off.index) == ["gradient"]
    assert "block grid" in off.attrs["skipped"]["cem"] and "(98, 84, 16, 16)" in off.attrs["skipped"]["cem"]
    on = trust.report(model, lr, (96, 80, 16), ["gradient", "cem"], hr=hr, checks=("stratified",), seeds=2,
                      knobs={"cem": {"fine": 4, "coarse": 1}})
    assert list(on.index) == ["gradient", "cem"] and on.attrs["skipped"] == {}
    assert torch.isfinite(torch.tensor(on.loc["cem", "score"]))
    # a block knob moves the grid: 4 SR px (a multiple of x4) puts (100, 84, 16) on it
    moved = trust.report(model, lr, (100, 84, 16), ["cem"], hr=hr, checks=("stratified",), seeds=2,
                         knobs={"cem": {"fine": 4, "coarse": 1, "block": 4}})
    assert list(moved.index) == ["cem"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_table_keeps_going_past_a_skipped_member(tmp_path):
    df = trust.table(["x4-fsrcnn"], ["astronaut"], [(98, 84, 16)], ["gradient", "cem"], checks=("stratified",),
                     seeds=2, path=str(tmp_path / "t.csv"))
    assert list(df["method"]) == ["gradient"]


def test_checks_figure_greys_a_check_not_judged_instead_of_colouring_it_failed():
    import pandas as pd

    from srwidgets.viz.trust import checks_figure

    df = pd.DataFrame({"method": ["gradient", "lam", "erf"], "stratified": ["-", "pass", "fail"],
                       "score": [float("nan"), 0.4, 0.1]})
    colours = [tuple(round(c, 3) for c in p.get_facecolor()[:3]) for p in checks_figure(df).axes[0].patches]
    assert colours[0] == (0.85, 0.85, 0.85)          # "-": grey
    assert colours[1][1] > colours[1][0] and colours[2][0] > colours[2][1]   # pass green, fail red
