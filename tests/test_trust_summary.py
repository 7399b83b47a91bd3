"""trust.summary: the per-window checks of a trust table pooled over windows (Stouffer's weighted z)."""
import math

import pandas as pd
import pytest

from srwidgets import data, trust, zoo
from srwidgets.errors import InputError


def _row(method, score, null_mean=0.0, null_sd=0.1, edge=0.0, stratified="fail", model="m", **extra):
    return dict(model=model, method=method, score=score, null_mean=null_mean, null_sd=null_sd, edge=edge,
                stratified=stratified, **extra)


def test_the_pooled_z_is_the_sum_of_margins_over_the_root_of_the_summed_variances():
    rows = [_row("a", 0.25, null_mean=0.05, null_sd=0.10), _row("a", 0.10, null_mean=-0.02, null_sd=0.05),
            _row("a", 0.45, null_mean=0.00, null_sd=0.20, stratified="pass")]
    s = trust.summary(pd.DataFrame(rows), seeds=8).loc[("m", "a")]
    # each margin's variance: null_sd² (1 + 1/seeds), the null mean being the mean of `seeds` draws
    want = (0.20 + 0.12 + 0.45) / math.sqrt((1 + 1 / 8) * (0.01 + 0.0025 + 0.04))
    assert s["stratified_z"] == pytest.approx(want) and s["windows"] == 3 and s["passed_windows"] == 1
    assert s["effect"] == pytest.approx((2.0 + 2.4 + 2.25) / 3)  # the mean standardised margin
    assert s["score_mean"] == pytest.approx(0.8 / 3) and s["score_sd"] == pytest.approx(pd.Series([.25, .1, .45]).std())
    assert s["stratified"] == "pass" and s["verdict"] == "trust (passes stratified)"  # z = 3.17
    assert trust.summary(pd.DataFrame(rows), seeds=1).loc[("m", "a"), "stratified_z"] == pytest.approx(
        want * math.sqrt(1.125 / 2))  # fewer seeds: a less certain null mean, a smaller z


def test_windows_that_fail_alone_pass_together_and_the_edge_control_still_decides():
    k = math.sqrt(1.25)  # seeds=4
    one = trust.summary(pd.DataFrame([_row("lam", 0.25)])).loc[("m", "lam")]
    assert one["stratified_z"] == pytest.approx(2.5 / k) and one["stratified"] == "fail"  # not enough alone
    four = trust.summary(pd.DataFrame([_row("lam", 0.25)] * 4)).loc[("m", "lam")]
    assert four["stratified_z"] == pytest.approx(5.0 / k) and four["stratified"] == "pass"
    edged = trust.summary(pd.DataFrame([_row("lam", 0.25, edge=0.3)] * 4)).loc[("m", "lam")]
    assert edged["stratified_z"] == pytest.approx(5.0 / k) and edged["stratified"] == "fail"  # no better than edges
    assert edged["verdict"] == "do not trust: fails stratified"


def test_a_ranking_at_its_null_stays_near_zero_however_many_windows():
    rows = [_row("noise", (-1) ** k * 0.08, null_sd=0.1) for k in range(40)]  # margins cancel out
    s = trust.summary(pd.DataFrame(rows)).loc[("m", "noise")]
    assert abs(s["stratified_z"]) < 1e-9 and s["stratified"] == "fail" and s["windows"] == 40


def test_randomisation_and_planted_pool_with_their_own_rules():
    rows = [_row("a", 0.5, rand_difference=0.15, planted="pass"), _row("a", 0.5, rand_difference=0.15, planted="fail"),
            _row("a", 0.5, rand_difference=0.15, planted="pass"),
            _row("b", 0.5, rand_difference=0.05, planted="fail"), _row("b", 0.5, rand_difference=0.05, planted="-")]
    s = trust.summary(pd.DataFrame(rows))
    a, b = s.loc[("m", "a")], s.loc[("m", "b")]
    assert a["rand_z"] == pytest.approx(0.45 / math.sqrt(0.03)) and a["randomisation"] == "pass"  # 2.6 > 2
    assert b["rand_z"] == pytest.approx(0.10 / math.sqrt(0.02)) and b["randomisation"] == "fail"  # 0.71
    assert (a["planted_windows"], a["planted"]) == ("2/3", "pass")
    assert (b["planted_windows"], b["planted"]) == ("0/1", "fail")  # "-" (not run) does not count
    assert a["verdict"] == "trust (passes stratified, randomisation, planted)"
    assert b["verdict"] == "do not trust: fails randomisation, planted"


def test_flat_windows_do_not_count_and_groups_follow_by():
    rows = [_row("a", 0.9, model="x", stratified="-"), _row("a", 0.2, model="x"), _row("a", 0.6, model="y"),
            _row("b", 0.1, model="x")]
    s = trust.summary(pd.DataFrame(rows))
    assert s.loc[("x", "a"), "windows"] == 1 and s.loc[("x", "a"), "score_mean"] == pytest.approx(0.2)
    assert list(s.index) == [("x", "a"), ("x", "b"), ("y", "a")]  # by model, best z first within it
    by_method = trust.summary(pd.DataFrame(rows), by="method")
    assert by_method.index.name == "method" and by_method.loc["a", "windows"] == 2


@pytest.mark.parametrize("table, words", [
    (pd.DataFrame([{"model": "m", "method": "a", "score": 0.1}]), "no column null_mean, null_sd, edge, stratified"),
    (pd.DataFrame([_row("a", 0.1, stratified="-")]), "no window of the table has a judged stratified check"),
    ([1, 2], "table must be a DataFrame"),
    (pd.DataFrame([_row("a", 0.1, null_sd=0.0)]), r"null has no spread .* seeds >= 2"),
    (pd.DataFrame([_row("a", float("nan"))]), "missing or infinite score"),
    (pd.DataFrame([_row("a", 0.1, null_sd=float("inf"))]), "missing or infinite"),
    (pd.DataFrame([_row("a", 0.1, image="cat", window="0,0,16,16"), _row("a", 0.3, image="cat", window="0,0,16,16")]),
     "more than once; each window counts once"),
])
def test_bad_tables_are_refused_in_words(table, words):
    with pytest.raises(InputError, match=words):
        trust.summary(table)


def test_a_real_table_written_to_csv_summarises_the_same_as_in_memory(tmp_path):
    model, lr = zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4)
    path = tmp_path / "trust.csv"
    df = trust.table({"x4-fsrcnn": model}, {"astronaut": lr}, [(96, 80, 16), (120, 120, 16)], ["gradient", "erf"],
                     path=str(path), checks=["stratified", "randomisation"], seeds=2)
    from_csv, in_memory = trust.summary(str(path), seeds=2), trust.summary(df, seeds=2)
    assert list(from_csv.index) == list(in_memory.index) and len(from_csv) == 2
    assert (from_csv["windows"] == 2).all()
    pd.testing.assert_frame_equal(from_csv, in_memory, check_dtype=False)
    from_csv = trust.summary(str(path), seeds=2)
    for method in ("gradient", "erf"):
        rows = df[df["method"] == method]
        want = (rows["score"] - rows["null_mean"]).sum() / math.sqrt(1.5 * (rows["null_sd"] ** 2).sum())
        assert from_csv.loc[("x4-fsrcnn", method), "stratified_z"] == pytest.approx(want)


def _cli(argv):
    import argparse

    from srwidgets.cli import trust as cli

    ap = argparse.ArgumentParser()
    cli.add_parser(ap.add_subparsers())
    args = ap.parse_args(["trust", "astronaut", "--model", "x4-fsrcnn", *argv, "--no-progress"])
    return args.func(args)


def test_the_cli_takes_several_windows_and_prints_the_verdict_over_them(tmp_path, capsys):
    out = tmp_path / "trust.csv"
    assert _cli(["--window", "128,64,16", "--window", "120,120,16", "--methods", "gradient,erf", "--checks",
                 "stratified,randomisation", "--seeds", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "window (128, 64, 16, 16)" in text and "window (120, 120, 16, 16)" in text
    assert "over 2 windows" in text
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["model", "image", "window", "method"]  # trust.table's columns
    assert sorted(set(table["window"])) == ["120,120,16,16", "128,64,16,16"] and len(table) == 4
    assert set(table["model"]) == {"x4-fsrcnn"} and set(table["image"]) == {"astronaut"}
    pooled = trust.summary(str(out), seeds=2).droplevel("model")  # the file reads back as a table
    judged = table[table["stratified"].isin(["pass", "fail"])].groupby("method").size()
    assert judged.min() >= 1 and (pooled["windows"] == judged.reindex(pooled.index)).all()
    for method, verdict in pooled["verdict"].items():
        assert f"{method}: {verdict}" in text.split("over 2 windows")[1]  # the pooled verdict, printed in words


@pytest.mark.parametrize("argv, words", [
    (["--window", "96,80,16", "--window", "96,80,16,16"], "given more than once"),
    (["--window", "96,80,16", "--window", "120,120,16", "--grid", "g.png"], "give a single --window"),
])
def test_the_cli_refuses_a_repeated_window_and_figures_of_several(argv, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=words):
        _cli([*argv, "--methods", "gradient", "--checks", "stratified"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seeds", [0, 1.5, True, "4"])
def test_seeds_must_be_a_count(seeds):
    with pytest.raises(InputError, match="seeds="):
        trust.summary(pd.DataFrame([_row("a", 0.1)]), seeds=seeds)


def test_the_same_window_on_two_images_or_models_is_not_a_repeat():
    rows = [_row("a", 0.3, image="cat", window="0,0,16,16"), _row("a", 0.3, image="dog", window="0,0,16,16"),
            _row("a", 0.3, image="cat", window="0,0,16,16", model="other")]
    s = trust.summary(pd.DataFrame(rows))
    assert s.loc[("m", "a"), "windows"] == 2 and s.loc[("other", "a"), "windows"] == 1


def test_a_window_listed_twice_in_trust_table_is_computed_and_counted_once():
    model, lr = zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4)
    df = trust.table({"x4-fsrcnn": model}, {"astronaut": lr}, [(128, 64, 16), (128, 64, 16, 16)], ["gradient"],
                     checks=["stratified"], seeds=2)
    assert df["window"].tolist() == ["128,64,16,16"]
    assert trust.summary(df, seeds=2).loc[("x4-fsrcnn", "gradient"), "windows"] == 1
