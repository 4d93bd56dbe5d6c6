"Stages on several processes (percep_lib.launch through the kit's finetune): 2 CPU processes train what 1 process accumulating twice trains, and a crashed stage resumes to the uninterrupted weights."
import os
from pathlib import Path
import pytest
import torch

from percep_lib.train.checkpoints import list_checkpoints
from percep_lib.build.builder import build_parts, stage_config, train_data
from percep_lib.exp.stages import finetune
from percep_lib.sp_loss import frozen_copy

SCHEDULE = dict(schedule="scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction")
TINY = dict(source="tiny", latents="pixels", resolution=16, text_dim=16, n_train=64, n_eval=8,
            unet=dict(block_out_channels=(16, 32), layers_per_block=1, attention_head_dim=8, norm_num_groups=8,
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D")))
GLOBAL_ACCUM = 2  # micro-batches of 4 per step: a global batch of 8


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def kit():
    parts, data = build_parts(TINY, SCHEDULE, seed=0), train_data(TINY, seed=0)
    return parts, data, parts.new_model()


def stage(kit, folder, processes, resume=False, objective="mse", accum=GLOBAL_ACCUM):
    "A 4-step stage; finetune shares the `accum` micro-batches of a step among the processes."
    parts, data, init = kit
    cfg = stage_config(folder, resume, max_steps=4, batch_size=4, grad_accum=accum, lr=1e-3, ema_decay=0.5, progress=False,
                       cpu=True, p_uncond=0.1 if objective == "mse" else 0.0, checkpoint_every=2, objective=objective, **SCHEDULE)
    return finetune(init, data, cfg, parts, perceptual=frozen_copy(init) if objective == "sp" else None, processes=processes)


def gap(a, b): return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.timeout(300)
def test_two_processes_train_what_one_process_accumulating_twice_trains(kit, tmp_path):
    two = stage(kit, tmp_path / "two", 2)
    one = stage(kit, tmp_path / "one", 1)
    half = stage(kit, tmp_path / "half", 1, accum=1)  # the control: one process, half the global batch
    assert [r["step"] for r in two.log] == [1, 2, 3, 4]
    # the same images and noise per step: the first loss agrees to float-sum order, later ones stay close
    assert abs(two.log[0]["loss"] - one.log[0]["loss"]) < 1e-5 * abs(one.log[0]["loss"])
    assert gap(two.raw, one.raw) < 0.05 * gap(two.raw, half.raw), (gap(two.raw, one.raw), gap(two.raw, half.raw))
    assert gap(two.ema, one.ema) < 0.05 * gap(two.ema, half.ema)
    assert (tmp_path / "two" / "launch.log").is_file() and not (tmp_path / "one" / "launch.log").exists()


@pytest.mark.timeout(300)
def test_a_crashed_two_process_sp_stage_resumes_to_the_uninterrupted_weights(kit, tmp_path):
    full = stage(kit, tmp_path / "sp", 2, objective="sp")
    ck = tmp_path / "sp" / "checkpoints"
    assert [s for s, _ in list_checkpoints(ck)] == [2, 4]
    (ck / dict(list_checkpoints(ck))[4].name).unlink()  # as if the processes died between step 2 and step 4
    resumed = stage(kit, tmp_path / "sp", 2, resume=True, objective="sp")
    assert gap(full.raw, resumed.raw) == 0 and gap(full.ema, resumed.ema) == 0
    assert [r["step"] for r in resumed.log] == [1, 2, 3, 4] and "sp" in resumed.log[0]
    log = tmp_path / "sp" / "launch.log"
    before = os.stat(log).st_mtime_ns
    again = stage(kit, tmp_path / "sp", 2, resume=True, objective="sp")  # finished: read back, nothing launched
    assert os.stat(log).st_mtime_ns == before and gap(again.raw, full.raw) == 0


def test_the_stage_needs_recipes_to_be_rebuilt_in_each_process(kit, tmp_path):
    parts, data, init = kit
    cfg = stage_config(tmp_path / "x", max_steps=1, batch_size=4, cpu=True, progress=False, **SCHEDULE)
    with pytest.raises(ValueError, match="train_data"):
        finetune(init, [data[i] for i in range(16)], cfg, parts, processes=2)
