"""Gated residuals for video diffusion (nbs/07_rdm_video.ipynb) end to end: the smoke profile trains every residual
variant, two depths gated and plain, a gate-supervised run and both conditions on two seeds and writes its tables,
figures, sensitivity and clips; the paper profile (frame folders, SD-VAE latents, FVD on I3D) runs on stand-in files
in the real formats."""
import json
import shutil
import pandas as pd
import pytest

NB = "07_rdm_video.ipynb"
RUNS = ["class v0 d2", "class v1 d2", "class v2 d2", "class v3 d2", "class v4 d2", "class v0 d1", "class v3 d1", "class v0 d2 sup-anchor",
        "none v0 d2", "none v3 d2"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_nb):
    return run_nb(NB, tmp_path_factory.mktemp("rdm") / "smoke", profile="smoke")


@pytest.fixture(scope="module")
def paper(tmp_path_factory, run_nb_standin):
    "The paper profile on 32-px stand-ins of frame folders, an SD2.1 VAE and I3D: variants 0 and 3, one block pair of width 16, 2 steps, 4 frames."
    return run_nb_standin(NB, tmp_path_factory.mktemp("rdm") / "paper", tmp_path_factory.mktemp("standin"), ("video", "sd21", "i3d"), 32,
                          profile="paper", resolution=32, frames=4, variants=[0, 3], depths=[2],
                          latte=dict(heads=2, head_dim=8, num_layers=1), batch_size=2, max_steps=2, checkpoint_every=2, n_eval=4,
                          curve_steps=2, sample_steps=[3], threads=1, device="cpu")


def test_smoke_writes_tables_figures_clips_and_config(smoke):
    for f in ["results.csv", "results.md", "config.json", "final_over_seeds.csv", "curve_over_seeds.csv", "table2.csv", "paper.csv",
              "sensitivity.csv", "gates.csv", "losses.csv", "variants_over_training.png", "depth.png", "sensitivity.png", "clips.png",
              "clips/real.gif", "clips/v0.gif", "clips/v3.gif"]:
        assert (smoke / f).is_file(), f
    assert not (smoke / "work").exists(), "the checkpoints are removed after a successful run"
    md = (smoke / "results.md").read_text()
    assert md.index("## Summary") < md.index("## Results")
    for what in ["| profile | smoke |", "percep-shapes-clip", "| git commit |", "Neural-RDM 39.89", "v4: ReZero", "No run draws a clean solid frame yet"]:
        assert what in md, what
    cfg = json.loads((smoke / "config.json").read_text())
    assert cfg["environment"]["torch_threads"] == 1 and cfg["seeds"] == [0, 1] and cfg["runs"] == RUNS
    assert cfg["runs_read_back"] == 0 and cfg["run_commits"] == [cfg["commit"]]
    assert cfg["schedule"]["prediction_type"] == cfg["prediction_type"] == "v_prediction", "pixel profiles predict v (see 'Why v-prediction')"
    assert "v-prediction with a fixed variance" in md


def test_every_run_and_seed_has_curve_and_final_rows(smoke):
    t = pd.read_csv(smoke / "results.csv")
    gt = t[t["run"] == "ground truth"]
    assert sorted(gt["condition"]) == ["class", "none"] and (gt["solid_frames"] == 1).all() and (gt["consistent"] == 1).all()
    final, curve = t[(t["table"] == "final") & (t["run"] != "ground truth")], t[t["table"] == "curve"]
    assert sorted(final["run"].unique()) == sorted(RUNS)
    assert (final.groupby(["run", "seed"]).size() == 2).all() and set(final["steps"]) == {2, 3}
    assert (curve.groupby(["run", "seed"])["train_step"].apply(sorted).map(tuple) == (2, 4)).all(), "checkpoints at 2 and 4"
    for c in ("fd_clip", "fd_clip_se", "frame_fid", "frame_fid_se", "solid_frames", "solid_frames_se", "consistent", "consistent_se"):
        assert final[c].notna().all(), c
    cls = final[final["condition"] == "class"]
    assert cls["aligned"].notna().all() and final[final["condition"] == "none"]["aligned"].isna().all()
    assert (final["n"] == 8).all()


def test_sensitivity_gates_and_verdicts(smoke):
    s = pd.read_csv(smoke / "sensitivity.csv")
    assert set(s["run"]) == {"class v0 d2", "class v3 d2", "class v0 d2 sup-anchor"}, "Fig. 5 runs: the deepest depth, gated, plain, supervised"
    assert set(s["train_step"]) == {0, 2, 4} and (s.groupby(["run", "seed", "train_step"]).size() == 4).all(), "4 units at depth 2"
    assert (s.groupby(["run", "seed", "train_step"])["normalised"].max() == 1).all()
    g = pd.read_csv(smoke / "gates.csv")
    assert "class v3 d2" not in set(g["run"]) and {"alpha_mean", "beta_mean"} <= set(g.columns), "the plain model has no gates"
    losses = pd.read_csv(smoke / "losses.csv")
    sup = losses[losses["run"] == "class v0 d2 sup-anchor"]
    assert sup["gate_penalty"].notna().all() and losses[losses["run"] == "class v0 d2"]["gate_penalty"].isna().all()
    agg = pd.read_csv(smoke / "final_over_seeds.csv")
    assert (agg["seeds"] == 2).all() and "fd_clip_spread" in agg
    md = (smoke / "results.md").read_text()
    for what in ["v1: AdaLN-style", "depth 2 against depth 1", "with gate supervision (anchor, 0.35)", "none condition: gated v0 against plain v3"]:
        assert what in md, what
    v = pd.read_csv(smoke / "verdicts.csv")
    assert v["underpowered"].all() and v["rule"].str.contains("enough seeds").all(), "4 steps, 2 seeds: nothing is called"
    pre = pd.read_csv(smoke / "preconditions.csv")
    assert "own objective moves" in set(pre["precondition"]) and "**Preconditions**" in md


def test_a_stopped_run_resumes_reading_finished_runs_back(tmp_path, run_nb):
    "Stopped after some runs, then resumed with a seed added: finished runs are read back, the rest trained, and the first seed's rows are the same."
    kw = dict(profile="smoke", variants=[0], depths=[2], keep_work=True)
    first = run_nb(NB, tmp_path / "r", seeds=[0], **kw)
    table = pd.read_csv(first / "results.csv").drop(columns="seconds")
    assert sorted(p.name for p in (first / "work").iterdir() if not p.name.startswith(".")) == ["class v0 d2 s0", "class v0 d2 sup-anchor s0", "class v3 d2 s0", "none v0 d2 s0", "none v3 d2 s0"]
    shutil.rmtree(first / "work" / "none v3 d2 s0")  # as if stopped before the last run
    second = run_nb(NB, tmp_path / "r", seeds=[0, 1], resume=True, **kw)
    cfg = json.loads((second / "config.json").read_text())
    assert cfg["runs_read_back"] == 4 and "4 of 10 runs read back" in (second / "results.md").read_text()
    again = pd.read_csv(second / "results.csv").drop(columns="seconds")
    assert set(again["seed"].dropna()) == {0, 1}
    pd.testing.assert_frame_equal(again[again["seed"] != 1].reset_index(drop=True), table)


def test_paper_profile_runs_on_the_standin(paper):
    cfg = json.loads((paper / "config.json").read_text())
    assert cfg["standin"] is True and cfg["latents"] == "sd21" and cfg["backbone"] == "i3d" and cfg["metric_backbone"] == "i3d (FVD)" and cfg["conditions"] == ["none"]
    md = (paper / "results.md").read_text()
    assert "STAND-IN INPUTS" in md and "One seed, values ± their standard error" in md
    t = pd.read_csv(paper / "results.csv")
    final = t[(t["table"] == "final") & (t["run"] != "ground truth")]
    assert sorted(final["run"].unique()) == ["none v0 d1", "none v0 d2", "none v0 d2 sup-anchor", "none v3 d1", "none v3 d2"]
    assert set(final["steps"]) == {3}
    assert final["fvd"].notna().all() and "fd_clip" not in t and "solid_frames" not in t, "frame folders have no ground truth; I3D gives FVD"
