"The time-to-quality script end to end at smoke size: train, score every checkpoint, tabulate; for the 06, 05 and 07 models."
import json, subprocess, sys
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "time_to_quality.py"


def run(*args):
    subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], check=True, cwd=ROOT)


def test_smoke_recipe(tmp_path):
    work, res = tmp_path / "work", tmp_path / "results"
    run("train", "smoke", "--work", work, "--results", res)
    info = json.loads((work / "cpu.json").read_text())
    assert info["cpu"] > 0 and info["threads"] == 1
    run("score", "smoke", "--work", work, "--results", res)
    lines = [json.loads(l) for l in open(res / "ttq" / "smoke.jsonl")]
    assert {l["sampler"] for l in lines} == {"ddim 2", "ddpm 3"}
    assert sorted({l["train_step"] for l in lines}) == [2, 4]  # every kept checkpoint, by each sampler
    for l in lines:
        assert 0 <= l["solid"] <= 1 and l["fid"] > l["floor_fid"] >= 0
        assert 0 <= l["cpu_minutes"] <= info["cpu"] / 60 + 0.01  # rounded to 0.01
    # the table leaves the smoke recipe out, so with nothing else scored it refuses
    r = subprocess.run([sys.executable, str(SCRIPT), "table", "--results", str(res)], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "no scored recipes" in r.stderr
    # a copy under another name is tabulated: reached is False (4 steps draw noise) and the columns are the issue's
    (res / "ttq" / "landed.jsonl").write_text((res / "ttq" / "smoke.jsonl").read_text().replace('"smoke"', '"landed"'))
    run("table", "--results", res)
    t = pd.read_csv(res / "time_to_quality.csv")
    assert {"model", "recipe", "reached", "cpu_minutes", "solid", "fid", "floor_fid"} <= set(t.columns)
    assert len(t) == 2 and not t.reached.any()
    assert (res / "time_to_quality.png").exists() and len(pd.read_csv(res / "ttq_curves.csv")) == 4


def test_smoke_recipes_of_05_and_07(tmp_path):
    res = tmp_path / "results"
    for recipe, key in (("smoke-05", "aligned"), ("smoke-07", "solid_frames")):
        work = tmp_path / recipe
        run("train", recipe, "--work", work, "--results", res)
        run("score", recipe, "--work", work, "--results", res)
        lines = [json.loads(l) for l in open(res / "ttq" / f"{recipe}.jsonl")]
        assert len(lines) == 1 and 0 <= lines[0][key] <= 1 and lines[0]["fid"] > lines[0]["floor_fid"] > 0
    # tabulated beside a 06 recipe, each model by its own thresholds
    for src, name in (("smoke-05", "sp-stage1"), ("smoke-07", "latte")):
        (res / "ttq" / f"{name}.jsonl").write_text((res / "ttq" / f"{src}.jsonl").read_text().replace(f'"{src}"',
                                                                                                     f'"{name}"'))
    run("table", "--results", res)
    t = pd.read_csv(res / "time_to_quality.csv").set_index("recipe")
    assert t.loc["sp-stage1", "criterion"] == "solid >= 0.9 and aligned >= 0.7"
    assert t.loc["latte", "criterion"] == "solid_frames >= 0.5" and not t.reached.any()
    assert t.loc["latte", "model"].startswith("07 Latte")
