"The main experiment (nbs/05_sp_finetune.ipynb) end to end with the smoke profile: every stage, table and figure."
import math
import pandas as pd
import pytest

TABLE1 = {"paper_steps", "loss", "cfg", "rescale", "steps", "nfe", "fid", "kid", "is", "solid", "aligned", "shape_acc",
          "color_acc", "pos_coverage", "size_coverage"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, run_nb):
    return run_nb("05_sp_finetune.ipynb", tmp_path_factory.mktemp("sp_finetune") / "smoke", profile="smoke")


def test_writes_results_config_and_figures(smoke_run):
    for f in ["results.csv", "results.md", "config.json", "ablations.csv", "samples.png", "losses.png", "x0_sp.png"]:
        assert (smoke_run / f).is_file(), f
    md = (smoke_run / "results.md").read_text()
    for what in ["| profile | smoke |", "| metric backbone | percep-shapes-net", "| seed | 0 |", "| git commit |"]:
        assert what in md, what
    assert "Inception" not in md.split("## Results")[0], "CPU-profile numbers must not be labelled Inception"


def test_table1_columns_rows_and_finite_metrics(smoke_run):
    df = pd.read_csv(smoke_run / "results.csv")
    assert TABLE1 <= set(df.columns), TABLE1 - set(df.columns)
    assert list(df["loss"]) == ["ground truth", "mse", "mse", "mse", "mse", "sp", "sp", "mse (continued)"]
    for col in ["fid", "kid", "is", "solid", "aligned", "pos_coverage", "size_coverage"]:
        vals = df.loc[df["loss"] != "ground truth", col]
        assert all(math.isfinite(v) for v in vals), (col, list(vals))
    guided = df[df["cfg"].notna()]
    assert (guided["nfe"] == 2 * guided["steps"]).all(), "a guided step costs two model evaluations"


def test_ablation_tables_cover_the_paper(smoke_run):
    df = pd.read_csv(smoke_run / "ablations.csv")
    assert set(df["table"]) == {"table2_layers", "table3_t2", "table4_distance", "table5_formulation",
                                "table6_perceptual", "table7_sp_cfg", "table8_unconditional"}
    assert set(df.loc[df["table"] == "table2_layers", "setting"]) == {"encoder", "decoder", "encoder+mid", "mid"}
    assert df[["fid", "kid", "is"]].notna().all().all()
