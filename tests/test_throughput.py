"""The throughput benchmark at smoke size: every setting of the 06 model in its own process, the tables, the figure;
one timed setting of the 05 and 07 models."""
import importlib.util, subprocess, sys
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "throughput.py"


def test_smoke_run(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "run", "--smoke", "--models", "06", "--results", str(tmp_path)],
                   check=True, cwd=ROOT)
    t = pd.read_csv(tmp_path / "throughput.csv")
    assert {"model", "setting", "img_per_cpu_s", "gflops", "peak_gflops", "frac_of_peak", "speedup"} <= set(t.columns)
    peak = t[t.model == "peak"]
    assert len(peak) == 4 and (peak.gflops > 0).all()  # mm and conv at 1 and 2 threads
    models = t[t.model != "peak"]
    assert models.model.nunique() == 1
    timed = models.dropna(subset=["speedup"])
    assert "note" not in t or t.note.isna().all(), t.note.dropna().tolist()  # no setting failed
    # the landed loop is the baseline of its own model; every timed setting has a rate and a FLOP count
    landed = timed[timed.setting.str.startswith("landed")]
    assert len(landed) == 1 and (landed.speedup - 1).abs().max() < 1e-9
    assert (timed.img_per_cpu_s > 0).all() and (timed.mflop_per_img > 0).all()
    assert ((timed.frac_of_peak - timed.gflops / timed.peak_gflops).abs() < 1e-9).all()
    assert timed.setting.str.contains("side by side").sum() == 1
    assert timed.setting.str.contains("compile").sum() == 1 and models.setting.str.startswith("sampling").sum() == 3
    ops = pd.read_csv(tmp_path / "throughput_ops.csv")
    assert abs(ops.share.sum() - 1) < 1e-6 and "matrix products and convolutions" in set(ops.kind)
    assert (tmp_path / "throughput.png").exists()


def test_other_models_time():
    spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
    T = importlib.util.module_from_spec(spec); spec.loader.exec_module(T)
    for key in ("05", "07"):
        r = T.one(key, batch=2, threads=1, steps=2, warm=1, smoke=True)
        assert r["images"] == 4 and r["img_per_cpu_s"] > 0 and r["cpu_s"] > 0
        assert T.flops_per_image(*T.model_parts(key, True)[:5], batch=2) > 0
