"""P2 training (nbs/06_p2_train.ipynb) end to end: the smoke profile trains every run of the weighting family on two
seeds and writes its tables, curves and verdicts; the paper profile (FFHQ, ADM-light with a learned variance and the
hybrid loss, Inception FID) runs on stand-in files in the real formats."""
import json
import pandas as pd
import pytest

NB = "06_p2_train.ipynb"
FAMILY = ["baseline", "p2 gamma=0.5", "p2 gamma=1", "min-snr-5", "debiased", "edm", "logit-normal t", "sp from baseline",
          "sp from p2 gamma=1"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_nb):
    return run_nb(NB, tmp_path_factory.mktemp("p2") / "smoke", profile="smoke")


@pytest.fixture(scope="module")
def paper(tmp_path_factory, run_nb_standin):
    "The paper profile on 64-px stand-ins of FFHQ and Inception: baseline and P2, 2 steps each, a quarter-width ADM-light, 4 references (each Inception row costs ~30 s on one thread)."
    return run_nb_standin(NB, tmp_path_factory.mktemp("p2") / "paper", tmp_path_factory.mktemp("standin"), ("ffhq", "inception"), 64,
                          profile="paper", resolution=64, unet=dict(block_out_channels=[32, 32, 64, 64, 128, 128]), batch_size=2, max_steps=2, checkpoint_every=2, n_eval=4,
                          curve_steps=2, sample_steps=[2], threads=1, device="cpu", runs=["baseline", "p2 gamma=1"])


def test_smoke_writes_tables_figures_and_config(smoke):
    for f in ["results.csv", "results.md", "config.json", "final_over_seeds.csv", "curve_over_seeds.csv", "verdicts.csv", "paper.csv",
              "losses.csv", "preconditions.csv", "fid_curves.png", "samples.png"]:
        assert (smoke / f).is_file(), f
    assert not (smoke / "work").exists(), "the checkpoints are removed after a successful run"
    md = (smoke / "results.md").read_text()
    assert md.index("## Summary") < md.index("## Results")
    for what in ["| profile | smoke |", "| metric backbone | percep-shapes-net |", "| git commit |", "No run is ranked: every verdict is underpowered", "MetFaces 250 steps: FID 44.34 -> 36.8", "No run draws a clean solid shape yet"]:
        assert what in md, what
    cfg = json.loads((smoke / "config.json").read_text())
    assert cfg["environment"]["torch_threads"] == 1 and cfg["seeds"] == [0, 1] and cfg["standin"] is False


def test_every_run_and_seed_has_its_curve_and_final_rows(smoke):
    t = pd.read_csv(smoke / "results.csv")
    gt = t[t["run"] == "ground truth"]
    assert len(gt) == 1 and gt["solid"].iloc[0] >= 0.9, "real shapes are solid (at 16 px the smallest can miss the criterion)"
    final, curve = t[(t["table"] == "final") & (t["run"] != "ground truth")], t[t["table"] == "curve"]
    assert sorted(final["run"].unique()) == sorted(FAMILY)
    assert (final.groupby(["run", "seed"]).size() == 2).all(), "one row per sampling step count"
    assert set(final["steps"]) == {2, 3} and (final["n"] == 16).all() and (final["train_step"] == 4).all()
    mse_runs = curve[~curve["run"].str.startswith("sp")]
    assert (mse_runs.groupby(["run", "seed"])["train_step"].apply(sorted).map(tuple) == (2, 4)).all(), "checkpoints at 2 and 4"
    assert (curve[curve["run"].str.startswith("sp")]["train_step"] == 4).all(), "an SP run ends at the same budget"
    for c in ("fid", "fid_se", "kid", "kid_se", "solid", "solid_se", "class_coverage"):
        assert final[c].notna().all(), c
    # the final row at the curve's step count is the last checkpoint's curve row: the same model, the same samples
    last = curve[(curve["train_step"] == 4)].set_index(["run", "seed"])["fid"]
    same = final[final["steps"] == 2].set_index(["run", "seed"])["fid"]
    pd.testing.assert_series_equal(last.sort_index(), same.sort_index(), check_names=False)


def test_seed_aggregates_and_verdicts(smoke):
    t = pd.read_csv(smoke / "results.csv")
    agg = pd.read_csv(smoke / "final_over_seeds.csv")
    assert (agg["seeds"] == 2).all() and {"fid_spread", "kid_spread", "solid_spread"} <= set(agg.columns)
    b = t[(t["run"] == "baseline") & (t["table"] == "final") & (t["steps"] == 2)]["fid"]
    row = agg[(agg["run"] == "baseline") & (agg["steps"] == 2)].iloc[0]
    assert row["fid"] == pytest.approx(b.mean()) and row["fid_spread"] == pytest.approx(b.std(ddof=1))
    vs = pd.read_csv(smoke / "verdicts.csv")
    assert set(vs["comparison"]) == {f"{r} against the baseline" for r in FAMILY[1:]}
    assert {"diff", "diff_se", "p_value", "underpowered", "rule"} <= set(vs.columns)
    # 4 steps from scratch: nothing is finished, so no verdict may be called, whatever its p
    assert (vs["verdict"] == "underpowered").all() and vs["underpowered"].all()
    assert vs["rule"].str.contains("baseline finished").all() and vs["rule"].str.contains("enough seeds").all()
    pre = pd.read_csv(smoke / "preconditions.csv")
    assert {"own objective moves", "baseline finished", "headroom", "positive control separates", "enough seeds",
            "in validated range"} == set(pre["precondition"])
    assert not pre[pre.precondition == "in validated range"]["holds"].any(), "the ranges hold at n = 192 only"
    assert {"fid_in_range", "kid_in_range", "in_range"} <= set(t.columns) and not t["in_range"].any()
    md = (smoke / "results.md").read_text()
    for r in FAMILY[1:]:
        assert f"- {r} " in md, r


def test_losses_are_logged_for_every_run(smoke):
    losses = pd.read_csv(smoke / "losses.csv")
    assert set(losses["run"]) == set(FAMILY) and losses["loss"].notna().all()
    assert (losses[losses["run"].str.startswith("sp")].groupby(["run", "seed"]).size() == 2).all(), "SP fine-tunes sp_steps = 2"


def test_paper_profile_runs_on_the_standin(paper):
    cfg = json.loads((paper / "config.json").read_text())
    assert cfg["backbone"] == "inception-v3-compat" and cfg["standin"] is True and cfg["learn_sigma"] is True
    assert cfg["objective"] == "hybrid" and cfg["sampler"] == "ddpm" and cfg["unet"]["block_out_channels"] == [32, 32, 64, 64, 128, 128]
    md = (paper / "results.md").read_text()
    assert "STAND-IN INPUTS" in md and "| metric backbone | inception-v3-compat |" in md
    assert "**underpowered**" in md and "enough seeds" in md, "one seed, stand-ins: nothing can be called"
    t = pd.read_csv(paper / "results.csv")
    final = t[(t["table"] == "final") & (t["run"] != "ground truth")]
    assert sorted(final["run"].unique()) == ["baseline", "p2 gamma=1"] and set(final["steps"]) == {2}
    assert final["fid"].notna().all() and (final["n"] == 4).all()
    assert "vlb" in pd.read_csv(paper / "losses.csv").columns, "the hybrid loss logs its VLB term"


@pytest.mark.parametrize("params, message", [
    (dict(n_eval=0), "n_eval = 0: must be a whole number >= 1"),
    (dict(n_eval=12.5), "n_eval = 12.5"),
    (dict(seeds=[0, 0]), "seeds = [0, 0] repeats a value"),
    (dict(sample_steps=[2000]), "sampling steps [2000] exceed the schedule's T = 1000"),
])
def test_bad_parameters_fail_before_training(tmp_path, run_nb, params, message):
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_nb(NB, tmp_path / "bad", profile="smoke", **params)
    assert not (tmp_path / "bad" / "work").exists() and not (tmp_path / "bad" / "results.csv").exists()
