"The paper profiles end to end on stand-in files (percep_lib.standin) in the formats the real ones have: the SP fine-tune on an SD2.1-format folder, LAION-style captions and COCO 2014, with two training processes; and partial folders stop with errors naming their settings key."
import json, shutil
from pathlib import Path
import pandas as pd
import papermill as pm
import pytest
import torch

from percep_lib.exp.standin import write_standin

SD_PARTS = ("sd21", "laion_subset", "coco2014", "inception")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    "Stand-ins at 128 px (the profile's 512 px costs minutes per row on a CPU), and the environment that points settings.ini at them."
    root = tmp_path_factory.mktemp("standin")
    return root, write_standin(root, parts=SD_PARTS, size=128)


@pytest.fixture(scope="module")
def sp_paper(standin, tmp_path_factory, run_nb):
    "05 under `-p profile paper` on the stand-in: tiny step counts, n_eval, batch and resolution; two CPU training processes."
    root, env = standin
    out = tmp_path_factory.mktemp("sp_paper")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items(): mp.setenv(k, v)
        run_nb("05_sp_finetune.ipynb", out, profile="paper", device="cpu", threads=1, processes=2, mse_steps=2, sp_steps=2,
                     n_eval=4, batch_size=2, grad_accum=2, finetune_accum=2, sample_steps=[2, 3], resolution=128)
    return out


def test_sp_paper_profile_runs_end_to_end_on_the_standin(sp_paper):
    cfg = json.loads((sp_paper / "config.json").read_text())
    assert cfg["profile"] == "paper" and cfg["source"] == "sd21" and cfg["latents"] == "sd21" and cfg["resolution"] == 128
    assert cfg["backbone"] == "inception-v3-compat" and cfg["processes"] == 2 and cfg["standin"] is True
    t = pd.read_csv(sp_paper / "results.csv")
    assert set(t["n"].dropna()) == {4}
    assert t["fid"].notna().all() and (t["fid"] >= 0).all() and "fid_se" in t
    assert {"sp", "mse", "mse (continued)", "ground truth"} <= set(t["loss"])
    md = (sp_paper / "results.md").read_text()
    assert "STAND-IN INPUTS" in md and "inception-v3-compat" in md
    log = (sp_paper / "run.ipynb").read_text()
    assert "accelerate launch --multi_gpu --num_processes 2" in log  # the training stages ran on two processes


def wrong_shape_inception(root):
    "One tensor of the stand-in Inception file cut to the wrong shape."
    path = next((root / "weights").glob("weights-inception-*.pth"))
    sd = torch.load(path, weights_only=True)
    k = next(k for k, v in sd.items() if v.dim() == 4)
    sd[k] = sd[k][:, :, :1]
    torch.save(sd, path)


@pytest.mark.parametrize("breaks, names", [
    (lambda r: shutil.rmtree(r / "sd21" / "unet"), ["[weights] sd21", "unet"]),
    (lambda r: (r / "sd21" / "tokenizer" / "merges.txt").unlink(), ["[weights] sd21", "merges.txt"]),
    (lambda r: shutil.rmtree(r / "coco2014" / "annotations"), ["[data] coco2014", "captions_val2014.json"]),
    (wrong_shape_inception, ["[weights] inception", "expected"]),
])
def test_partial_folders_stop_the_paper_profile_naming_the_key(standin, tmp_path, run_nb, breaks, names):
    root, env = standin
    broken = tmp_path / "standin"
    shutil.copytree(root, broken)
    breaks(broken)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items(): mp.setenv(k, v.replace(str(root), str(broken)))
        with pytest.raises(pm.PapermillExecutionError) as e:
            run_nb("05_sp_finetune.ipynb", tmp_path / "out", profile="paper", device="cpu", threads=1, processes=1,
                         mse_steps=1, sp_steps=1, n_eval=4, batch_size=2, grad_accum=1, finetune_accum=1, resolution=128)
    assert all(n in str(e.value) for n in names), str(e.value)[-2000:]
