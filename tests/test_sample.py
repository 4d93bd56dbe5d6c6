"Sampling: DDIM from t = T lands on the data under an exact denoiser, per-sample seeds, guidance and rescale, x0 recording."
import pytest
import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

from percep_lib.schedules import Schedule
from percep_lib.core.sample import EmpiricalDenoiser, guided_output, make_scheduler, sample

DATA = torch.rand(5, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
LABELS = torch.tensor([0, 0, 1, 1, 2])


def nearest(x):
    d = torch.cdist(x.flatten(1).double(), DATA.flatten(1).double())
    return d.min(1).values, d.argmin(1)


@pytest.mark.parametrize("schedule,sampler,steps", [
    (Schedule("scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction"), "ddim", 25),
    (Schedule("linear"), "ddim", 50),
    (Schedule("cosine", prediction_type="v_prediction"), "ddpm", 100),
])
def test_exact_denoiser_samples_land_on_training_data(schedule, sampler, steps):
    out = sample(EmpiricalDenoiser(DATA, schedule), schedule, (3, 4, 4), 6, steps=steps, sampler=sampler, progress=False)
    assert out.timesteps[0] == 999, "trailing spacing starts at t = T"
    assert nearest(out.images)[0].max() < 1e-2


def test_class_condition_and_guidance_pick_the_class():
    s = Schedule("linear", prediction_type="v_prediction")
    den = EmpiricalDenoiser(DATA, s, LABELS)
    y = torch.tensor([2, 1, 0, 2])
    out = sample(den, s, (3, 4, 4), 4, steps=20, cond={"class_labels": y}, uncond={"class_labels": torch.tensor([3])},
                 guidance=3.0, rescale=0.7, progress=False)
    assert out.nfe == 40
    assert torch.equal(LABELS[nearest(out.images)[1]], y)


def test_guidance_formula_and_rescale_is_diffusers():
    s = Schedule("linear")
    den = EmpiricalDenoiser(DATA, s, LABELS)
    x, t = torch.randn(3, 3, 4, 4), torch.tensor([100, 500, 900])
    c, u = {"class_labels": torch.tensor([0, 1, 2])}, {"class_labels": torch.tensor([3, 3, 3])}
    yc, yu = den(x, t, **c), den(x, t, **u)
    torch.testing.assert_close(guided_output(den, x, t, c, u, 1.0), yc)
    g = yu + 5.0 * (yc - yu)
    torch.testing.assert_close(guided_output(den, x, t, c, u, 5.0), g)
    torch.testing.assert_close(guided_output(den, x, t, c, u, 5.0, rescale=0.7), rescale_noise_cfg(g, yc, guidance_rescale=0.7))


def test_each_sample_has_its_own_seed():
    class Toy(torch.nn.Module):  # mixes pixels, so a batched matmul could round differently: compare with tolerance
        def __init__(self): super().__init__(); self.lin = torch.nn.Linear(48, 48)
        def forward(self, x, t): return 0.1 * self.lin(x.flatten(1)).view_as(x)
    torch.manual_seed(0)
    model = Toy()
    s = Schedule("linear", prediction_type="v_prediction")
    for sampler, eta in [("ddim", 0.0), ("ddim", 1.0), ("ddpm", 0.0)]:
        many = sample(model, s, (3, 4, 4), 5, steps=8, sampler=sampler, eta=eta, seed=7, batch_size=2, progress=False)
        alone = sample(model, s, (3, 4, 4), 1, steps=8, sampler=sampler, eta=eta, seed=11, progress=False)
        torch.testing.assert_close(many.images[4], alone.images[0])
        assert not torch.allclose(many.images[0], many.images[1])


def test_x0_recording_and_bad_requests():
    s = Schedule("cosine", zero_terminal_snr=True, prediction_type="v_prediction")
    out = sample(EmpiricalDenoiser(DATA, s), s, (3, 4, 4), 2, steps=10, record_x0=[0, 4, -1], progress=False)
    assert out.x0.shape == (2, 3, 3, 4, 4) and out.x0_steps == [0, 4, 9]
    torch.testing.assert_close(out.x0[:, 0], DATA.mean(0).expand(2, -1, -1, -1), atol=1e-4, rtol=0)  # at t = T: the mean
    with pytest.raises(ValueError, match="zero terminal SNR needs prediction_type 'v_prediction'"):  # refused by Schedule already
        sample(EmpiricalDenoiser(DATA, Schedule(zero_terminal_snr=True)), Schedule(zero_terminal_snr=True), (3, 4, 4))
    with pytest.raises(ValueError, match="record_x0 step indices must lie in 0..9"):
        sample(EmpiricalDenoiser(DATA, s), s, (3, 4, 4), steps=10, record_x0=[10], progress=False)
    with pytest.raises(ValueError, match="unknown sampler 'heun'"):
        make_scheduler(s, "heun")
