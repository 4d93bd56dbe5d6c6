"""Sanity of percep_lib.metrics: the orderings a feature distance must respect, the backbone's validation criterion
at n = 192 (imperceptible changes near the floor, visible ones clearly worse), the ground-truth metrics on rendered vs
degraded images, the missing-weights errors, and the wall time of FID+KID+IS on 10k 32x32 images."""
import time

import pytest
import torch
import torch.nn.functional as F

from percep_lib.config import SettingMissing
from percep_lib.data.shapes import ShapesDataset
from percep_lib.data.files import stack_samples
from percep_lib.eval.fidelity import fidelity_metrics
from percep_lib.eval.lpips import lpips_model
from percep_lib.eval.ground_truth import shape_metrics
from percep_lib.eval.validation import validate_backbone, validation_summary
from percep_lib.eval.video import video_metrics

KEY = "[percep-shapes-net]"


def blur(x):
    k = torch.tensor([1., 4., 6., 4., 1.]); k = (k[:, None] * k[None]) / 256
    return F.conv2d(F.pad(x, (2,) * 4, mode="replicate"), k.expand(3, 1, 5, 5).contiguous(), groups=3)


@pytest.fixture(scope="module")
def sets():
    real, real2 = (stack_samples(ShapesDataset(2000, size=32, seed=s)) for s in (100, 101))
    return {"real": real, "real'": real2, "blurred": blur(real2), "noise": torch.rand_like(real2) * 2 - 1,
            "one shape class": stack_samples(ShapesDataset(2000, size=32, seed=101, shapes=("circle",), colors=("red",)))}


def test_feature_distance_orderings(sets):
    m = {k: fidelity_metrics(sets["real"], sets[k], kid_subsets=20, threads=1)
         for k in ("real'", "blurred", "one shape class", "noise")}
    fid, kid, isc = ({k: v[name + KEY] for k, v in m.items()} for name in ("fid", "kid_mean", "is_mean"))
    print("\nFID", {k: round(v, 3) for k, v in fid.items()}, "\nKID", {k: round(v, 5) for k, v in kid.items()},
          "\nIS", {k: round(v, 3) for k, v in isc.items()})
    # FID(real, real') << FID(real, blurred) < FID(real, noise). The 28 features are bounded (probabilities, contrast
    # residuals), so FID saturates far outside the domain: noise is ~1.3x a 5x5 blur here (both ~1000x the floor); the
    # earlier 304 unbounded features put it at > 10x, which this test asked for until the network was redesigned.
    assert fid["real'"] * 5 < fid["blurred"] < fid["noise"]
    assert fid["real'"] * 5 < fid["one shape class"] < fid["noise"]  # mode collapse is far too
    assert kid["real'"] * 5 < kid["blurred"] < kid["noise"] / 5  # KID keeps more of the gap (~8x)
    assert isc["real'"] > 14 and isc["one shape class"] < 1.5 and isc["noise"] < 1.5
    assert all(set(v) >= {"fid" + KEY, "kid_mean" + KEY, "is_mean" + KEY, "feature_extractor"} for v in m.values())
    assert not any("inception" in k for v in m.values() for k in v)  # never labelled as Inception


# Half the images drawn as squares changes the class of a third of them: at n = 192 that is close to the counting
# noise of the class mix (ideal 18-class one-hot features would give about 3.1x the floor; the 28 backbone features,
# which also carry position, size and contrast, about 2x), so this one row is only asked to score above every
# imperceptible change. Per-sample class errors are what the ground-truth metrics (`aligned`) are for.
COUNTING_LIMITED = {"wrong shape: half drawn as squares"}


def test_backbone_validation_n192():
    "At an experiment's evaluation size: imperceptible changes within 2x the real-vs-real floor, visible ones >= 3x and above them."
    df = validate_backbone(ns=(192,), repeats=5, threads=1)
    print("\n" + df[["change", "kind", "fid", "fid_se", "fid_ratio", "ok"]].round(3).to_string() + "\n" + validation_summary(df))
    imperceptible, visible = df[df.kind == "imperceptible"], df[df.kind == "visible"]
    assert len(imperceptible) == 4 and len(visible) == 10
    assert (imperceptible.fid_ratio <= 2).all(), imperceptible[["change", "fid_ratio"]]
    assert (visible.fid > imperceptible.fid.max()).all(), visible[["change", "fid"]]
    strict = visible[~visible.change.isin(COUNTING_LIMITED)]
    assert (strict.fid_ratio >= 3).all(), strict[["change", "fid_ratio"]]


def test_ground_truth_metrics(sets):
    asked = next(iter(torch.utils.data.DataLoader(ShapesDataset(2000, size=32, seed=101), batch_size=500)))
    good = shape_metrics(sets["real'"][:500], asked)
    bad = {k: shape_metrics(sets[k][:500], asked) for k in ("blurred", "noise", "one shape class")}
    assert good["solid"] == good["aligned"] == 1.0 and good["pos_coverage"] == 1.0
    assert bad["blurred"]["solid"] < 0.05 and bad["noise"]["solid"] == 0.0
    oc = bad["one shape class"]  # perfect shapes, but not what was asked and no class diversity
    assert oc["solid"] == 1.0 and oc["aligned"] < 0.1 and oc["class_coverage"] == 1 / 18


def test_missing_weights_name_the_setting(monkeypatch):
    for key in ("INCEPTION", "LPIPS_ALEX", "LPIPS_VGG", "I3D"): monkeypatch.setenv(f"PERCEP_WEIGHTS_{key}", "")
    x = torch.zeros(8, 3, 32, 32)
    with pytest.raises(SettingMissing, match=r"\[weights\] inception"):
        fidelity_metrics(x, x, feature_extractor="inception-v3-compat")
    with pytest.raises(SettingMissing, match=r"\[weights\] lpips_vgg.*random-backbone"):
        lpips_model("vgg")
    with pytest.raises(SettingMissing, match=r"\[weights\] i3d.*frame-fid"):
        video_metrics(torch.zeros(2, 3, 4, 32, 32), torch.zeros(2, 3, 4, 32, 32))
    monkeypatch.setenv("PERCEP_WEIGHTS_INCEPTION", "/nonexistent/weights-inception.pth")
    with pytest.raises(SettingMissing, match="does not exist"):
        fidelity_metrics(x, x, feature_extractor="inception-v3-compat")


def test_timing_10k():
    "FID + KID (100 subsets of 1000) + IS on 10k vs 10k 32x32 images with percep-shapes-net: printed, not asserted."
    t0 = time.time()
    real, fake = (stack_samples(ShapesDataset(10_000, size=32, seed=s)) for s in (200, 201))
    t1 = time.time()
    m = fidelity_metrics(real, fake, threads=1)
    t2 = time.time()
    print(f"\nrender 2 x 10k images: {t1 - t0:.1f} s; FID+KID+IS on 10k vs 10k (1 torch thread): {t2 - t1:.1f} s; "
          + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if KEY in k))
    assert m["kid_subset_size"] == 1000 and m["n_real"] == m["n_fake"] == 10_000
