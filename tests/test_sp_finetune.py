"""The main experiment (nbs/05_sp_finetune.ipynb) end to end with the smoke profile: every stage, table and figure, n and
standard errors on every row, the run's environment recorded, and the same command reproducing the same table."""
import json
import math
import pandas as pd
import pytest

TABLE1 = {"paper_steps", "loss", "cfg", "rescale", "steps", "nfe", "n", "fid", "fid_se", "kid", "kid_se", "is", "solid",
          "solid_se", "aligned", "aligned_se", "shape_acc", "shape_acc_se", "color_acc", "color_acc_se", "pos_coverage",
          "size_coverage"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, run_nb):
    return run_nb("05_sp_finetune.ipynb", tmp_path_factory.mktemp("sp_finetune") / "smoke", profile="smoke")


@pytest.fixture(scope="module")
def smoke_rerun(tmp_path_factory, run_nb, smoke_run):
    "The same command again, into another folder, told to compare itself with the first run."
    return run_nb("05_sp_finetune.ipynb", tmp_path_factory.mktemp("sp_finetune") / "smoke-again", profile="smoke",
                  rerun_of=str(smoke_run / "results.csv"))


def test_writes_results_config_and_figures(smoke_run):
    for f in ["results.csv", "results.md", "config.json", "ablations.csv", "samples.png", "losses.png", "x0_sp.png"]:
        assert (smoke_run / f).is_file(), f
    md = (smoke_run / "results.md").read_text()
    for what in ["| profile | smoke |", "| metric backbone | percep-shapes-net", "| seed | 0 |", "| git commit |",
                 "| machine | ", "1 torch threads", "results/metric_checks/results.md"]:
        assert what in md, what
    assert "Inception" not in md.split("## Results")[0], "CPU-profile numbers must not be labelled Inception"
    assert not (smoke_run / "work").exists(), "a finished run removes its own checkpoints"


def test_config_records_the_environment(smoke_run):
    env = json.loads((smoke_run / "config.json").read_text())["environment"]
    assert env["torch_threads"] == 1 and env["deterministic_algorithms"] is True
    assert env["cpu"] and env["cpu_capability"]
    for pkg in ("torch", "diffusers", "accelerate", "torch-fidelity"):
        assert env["versions"][pkg], pkg


def test_table1_columns_rows_and_finite_metrics(smoke_run):
    df = pd.read_csv(smoke_run / "results.csv")
    assert TABLE1 <= set(df.columns), TABLE1 - set(df.columns)
    assert list(df["loss"]) == ["ground truth", "mse", "mse", "mse", "sp", "mse (continued)", "mse", "sp"]
    for col in ["fid", "fid_se", "kid", "kid_se", "is", "solid", "aligned", "solid_se", "pos_coverage", "size_coverage"]:
        vals = df.loc[df["loss"] != "ground truth", col]
        assert all(math.isfinite(v) for v in vals), (col, list(vals))
    assert (df["n"] == 16).all() and (df["fid_se"] > 0).all()
    p, n = df["aligned"], df["n"]
    rows = df["loss"] != "ground truth"
    assert ((df.loc[rows, "aligned_se"] - (p * (1 - p) / n).pow(0.5)[rows]).abs() < 1e-9).all(), "binomial standard error"
    guided = df[df["cfg"].notna()]
    assert (guided["nfe"] == 2 * guided["steps"]).all(), "a guided step costs two model evaluations"


def test_same_command_same_table(smoke_run, smoke_rerun):
    a, b = (pd.read_csv(r / "results.csv").drop(columns=["seconds"]) for r in (smoke_run, smoke_rerun))
    pd.testing.assert_frame_equal(a, b)
    md = (smoke_rerun / "results.md").read_text()
    assert "Rerun at 1 torch thread(s)" in md and "The largest move is 0.00 standard errors" in md, md
    assert "no comparison of SP changes its verdict" in md


def test_ablation_tables_cover_the_paper(smoke_run):
    df = pd.read_csv(smoke_run / "ablations.csv")
    assert set(df["table"]) == {"table2_layers", "table3_t2", "table4_distance", "table5_formulation",
                                "table6_perceptual", "table7_sp_cfg", "table8_unconditional"}
    assert set(df.loc[df["table"] == "table2_layers", "setting"]) == {"encoder", "decoder", "encoder+mid", "mid"}
    assert df[["fid", "kid", "is"]].notna().all().all()
