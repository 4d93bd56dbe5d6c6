"""The P2 probe (nbs/04_lpips_snr_probe.ipynb) end to end: the smoke profile's curves, bands, summary and files; and the
paper profile on stand-in CelebA-HQ and LPIPS-alex files in the real formats."""
import json
import numpy as np
import pandas as pd
import pytest

NB = "04_lpips_snr_probe.ipynb"
SMOKE_PAIRS = {("pixel MSE", "shapes"), ("pixel MSE", "photos"), ("1 - SSIM (scikit-image)", "shapes"),
               ("1 - SSIM (scikit-image)", "photos"), ("SP stage-1 denoiser, mid block at own t", "shapes"),
               ("SP stage-1 denoiser, mid block at own t", "photos"), ("percep-shapes-net features", "shapes")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_nb):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERCEP_WEIGHTS_LPIPS_ALEX", "")  # the smoke run is the same on every machine: no LPIPS even where it is configured
        return run_nb(NB, tmp_path_factory.mktemp("probe") / "smoke", profile="smoke", threads=1)


@pytest.fixture(scope="module")
def smoke_rows(smoke):
    return pd.read_csv(smoke / "results.csv")


@pytest.fixture(scope="module")
def paper(tmp_path_factory, run_nb_standin):
    "The paper profile on 256-px stand-ins of CelebA-HQ and torchvision's AlexNet file: 4 triplets, 9 SNRs (LPIPS at 256 px is slow on one CPU thread)."
    return run_nb_standin(NB, tmp_path_factory.mktemp("probe") / "paper", tmp_path_factory.mktemp("standin"), ("celebahq", "lpips_alex"), 256,
                          profile="paper", n_triplets=4, snr_per_decade=1, threads=1, device="cpu")


def test_smoke_writes_results_config_and_figures(smoke):
    for f in ["results.csv", "results.md", "config.json", "bands.csv", "snr_probe.png", "triplet_shapes.png", "triplet_photos.png"]:
        assert (smoke / f).is_file(), f
    md = (smoke / "results.md").read_text()
    assert md.index("## Summary") < md.index("## Results")
    for what in ["| profile | smoke |", "| seed | 0 |", "| git commit |", "1 torch threads", "25 SNRs from 1e-4 to 1e4"]:
        assert what in md, what
    cfg = json.loads((smoke / "config.json").read_text())
    assert cfg["environment"]["torch_threads"] == 1 and cfg["n_triplets"] == 6 and len(cfg["snr_grid"]) == 25
    assert cfg["wall_minutes"] > 0


def test_every_row_names_its_distance_and_domain(smoke_rows):
    df = smoke_rows
    assert df["distance"].notna().all() and df["domain"].notna().all()
    assert set(zip(df["distance"], df["domain"])) == SMOKE_PAIRS, "percep-shapes-net runs on shapes only"
    assert (df.groupby(["distance", "domain"]).size() == 25).all() and (df["n"] == 6).all()
    den = df[df["distance"].str.startswith("SP stage-1 denoiser")]
    assert den["timestep"].notna().all() and df.loc[~df.index.isin(den.index), "timestep"].isna().all()
    assert (den.sort_values("snr")["timestep"].diff().dropna() <= 0).all(), "lower SNR, later timestep"


def test_bands_present_and_ordered(smoke_rows):
    for c in ("same", "different", "gap"):
        lo, mid, hi = (smoke_rows[f"{c}{s}"] for s in ("_lo", "", "_hi"))
        assert (lo <= mid).all() and (mid <= hi).all(), c
        assert (hi > lo).mean() > 0.9, c  # a band has a width (6 triplets)


def test_same_image_curve_grows_as_the_snr_falls(smoke_rows):
    for (dist, dom), c in smoke_rows.groupby(["distance", "domain"]):
        c = c.sort_values("snr")
        same = c["same"].to_numpy()
        assert same[-1] <= 0.1 * same.max(), (dist, dom)  # two noisy copies of one image agree as SNR -> inf
        if dist in ("pixel MSE", "1 - SSIM (scikit-image)"):  # noise alone moves these: monotone in the noise
            assert np.all(np.diff(same) <= 1e-3 * same.max()), (dist, dom, same)


def test_curves_converge_at_the_lowest_snr(smoke_rows, smoke):
    for (dist, dom), c in smoke_rows.groupby(["distance", "domain"]):
        c = c.sort_values("snr")
        assert abs(c["gap"].iloc[0]) <= 0.1 * c["gap"].max(), (dist, dom)
        assert c["gap"].max() > 5 * max(abs(c["gap"].iloc[0]), 1e-12), (dist, dom)  # ... and differ somewhere above it
    assert "At the lowest SNR (1e-4) the two curves meet for every distance and domain" in (smoke / "results.md").read_text()


def test_summary_has_a_sentence_and_a_band_per_distance_and_domain(smoke):
    bands = pd.read_csv(smoke / "bands.csv")
    assert set(zip(bands["distance"], bands["domain"])) == SMOKE_PAIRS
    assert (bands["paper_snr_10"] == 0.01).all() and (bands["paper_snr_90"] == 1.0).all()
    mse = bands[bands["distance"] == "pixel MSE"]
    assert np.allclose(np.log10(mse[["snr_10", "snr_90"]].to_numpy()), np.log10([1 / 9, 9]), atol=0.15), mse  # closed form: 1/9 .. 9
    summary = (smoke / "results.md").read_text().split("## Summary", 1)[1].split("## Results", 1)[0]
    for r in bands.itertuples():
        line = next(l for l in summary.splitlines() if l.startswith(f"- {r.distance} on {r.domain} (n = 6 triplets)"))
        assert ("finds the paper's band" in line) == (r.verdict == "finds the paper's band"), line
    table = [l for l in summary.splitlines() if l.startswith("| ")]
    assert "paper (LPIPS, CelebA-HQ)" in table[0] and len(table) == 2 + len(bands)
    assert all("1e-02 .. 1e+00" in l for l in table[2:])
    assert "LPIPS(alex), the paper's distance, is not in this run" in summary


def test_paper_profile_runs_lpips_on_the_standin(paper):
    df = pd.read_csv(paper / "results.csv")
    assert set(df["domain"]) == {"celebahq"} and (df["n"] == 4).all()
    assert {"LPIPS(alex)", "1 - SSIM (scikit-image)", "pixel MSE"} == set(df["distance"])
    assert not df["distance"].str.contains("RANDOM").any()
    md = (paper / "results.md").read_text()
    assert "RANDOM" not in md and "STAND-IN INPUTS" in md and "- LPIPS(alex) on celebahq (n = 4 triplets)" in md
    cfg = json.loads((paper / "config.json").read_text())
    assert cfg["profile"] == "paper" and cfg["standin"] is True and cfg["domains"] == {"celebahq": 256}
    assert set(cfg["inputs"]) == {"[weights] lpips_alex", "[data] celebahq"}
