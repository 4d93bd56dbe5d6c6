"Smoke run of the SP speed benchmark (nbs/bench_sp.ipynb): it runs end to end and writes finite ratios."
import math

import pandas as pd
import pytest


@pytest.mark.timeout(180)
def test_bench_sp_smoke(tmp_path, run_nb):
    run_nb("bench_sp.ipynb", tmp_path, profile="smoke")
    df = pd.read_csv(tmp_path / "sp_speed.csv")
    assert set(df.method) == {"mse", "sp", "naive"}
    timed = df.dropna(subset=["step_ms"]).set_index("method")
    for col in ("step_ms", "fwd_bwd_ms", "gflop"):
        sp_mse, naive_sp = timed.loc["sp", col] / timed.loc["mse", col], timed.loc["naive", col] / timed.loc["sp", col]
        assert math.isfinite(sp_mse) and math.isfinite(naive_sp) and sp_mse > 0 and naive_sp > 0
    # FLOP counts are exact, not timings: SP must cost more than MSE and less than Algorithm 1 as written
    assert timed.loc["mse", "gflop"] < timed.loc["sp", "gflop"] < timed.loc["naive", "gflop"]
    md = (tmp_path / "sp_speed.md").read_text()
    assert "SP / MSE" in md and "naive / SP" in md
