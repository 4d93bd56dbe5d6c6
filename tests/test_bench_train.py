"Smoke run of the training-loop speed benchmark (nbs/bench_train.ipynb): it runs both loops and writes a finite ratio."
import math

import pandas as pd
import pytest


@pytest.mark.timeout(240)
def test_bench_train_smoke(tmp_path, run_nb):
    run_nb("bench_train.ipynb", tmp_path, profile="smoke")
    df = pd.read_csv(tmp_path / "train_speed.csv")
    assert set(df.loop) == {"diffusers", "ours"} and set(df.ema) == {False, True}
    assert all(math.isfinite(v) and v > 0 for v in df.samples_per_s)  # no timing is asserted: only that it ran
    md = (tmp_path / "train_speed.md").read_text()
    assert "(smoke profile)" in md and "ours / diffusers" in md  # the parameters cell took the injected profile
