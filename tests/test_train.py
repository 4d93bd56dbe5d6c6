"Training loop: SIGKILL/resume gives the uninterrupted weights, NaN stops cleanly, bad configs fail early, tiny runs end to end, accelerate launch on 2 CPU processes."
import errno, json, os, random, re, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
import yaml

from percep_lib.schedules import Schedule
import percep_lib.train.checkpoints as C
from percep_lib.core.objectives import MSEObjective
from percep_lib.core.registry import make_objective
from percep_lib.core.conditioning import ClassConditioner
from percep_lib.train.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint, load_weights, save_checkpoint, checkpoint_path
from percep_lib.train.config import TrainConfig
from percep_lib.train.loop import NonFiniteLossError, train, read_metrics
from percep_lib.cli import main
from percep_lib.data.shapes import ShapesDataset

ROOT = Path(__file__).resolve().parent.parent
NUM_CLASSES = 18  # ShapesDataset: 3 shapes x 6 colours
UNET = dict(sample_size=8, in_channels=3, out_channels=3, block_out_channels=[8, 16], layers_per_block=1,
            down_block_types=["DownBlock2D"] * 2, up_block_types=["UpBlock2D"] * 2, norm_num_groups=4)


@pytest.fixture(autouse=True)
def one_thread():
    "One torch thread: the machines running these tests are small and shared, and oversubscribed threads crawl."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_unet(num_classes=NUM_CLASSES, seed=0):
    from diffusers import UNet2DModel
    torch.manual_seed(seed)
    return UNet2DModel(**UNET, num_class_embeds=None if num_classes is None else num_classes + 1)


def run_file(tmp_path, name, **train_settings):
    "A run file for the tiny class-conditional model on 8x8 shapes."
    spec = {"model": {"target": "diffusers.UNet2DModel", "kwargs": {**UNET, "num_class_embeds": NUM_CLASSES + 1}},
            "dataset": {"target": "percep_lib.data.shapes.ShapesDataset", "kwargs": {"n": 32, "size": 8}},
            "conditioner": {"kind": "class", "num_classes": NUM_CLASSES},
            "train": {"out_dir": str(tmp_path / name), "progress": False, **train_settings}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def weights(out_dir):
    path, state = latest_checkpoint(Path(out_dir) / "checkpoints")
    return state


# -- kill / resume ---------------------------------------------------------------------------------------------

RESUME_SETTINGS = dict(max_steps=16, batch_size=4, grad_accum=2, lr=1e-3, lr_warmup_steps=3, ema_decay=0.9,
                       weighting="p2", weighting_kwargs={"gamma": 1.0}, p_uncond=0.2, checkpoint_every=2,
                       keep_checkpoints=2, seed=3)

# Kills the process from inside on its 3rd checkpoint write, after the temporary file is written and synced but
# before the rename: the state a power cut or SIGKILL in the middle of a save leaves behind.
KILL_IN_WRITE = """
import os, signal, sys, percep_lib.train.checkpoints as C
from percep_lib.cli import main
real, calls = os.replace, []
def replace(src, dst):  # counts checkpoint renames only: config.json and metrics.jsonl are written atomically too
    if os.path.basename(os.path.dirname(dst)) == "checkpoints": calls.append(dst)
    if len(calls) == 3: os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
C.os.replace = replace
main(sys.argv[1:])
"""


def _start(args, code=None):
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "percep_lib.cli", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_when(proc, ready, timeout=120):
    "SIGKILL `proc` as soon as ready() is true; return whether it was killed while still running."
    t0 = time.time()
    while not ready():
        if proc.poll() is not None: return False
        if time.time() - t0 > timeout: break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def test_sigkill_and_resume_matches_uninterrupted_run(tmp_path):
    # A: uninterrupted, in this process
    a_file = run_file(tmp_path, "a", **RESUME_SETTINGS)
    assert main(["--config", str(a_file), "--threads", "1"]) == 16
    a = weights(tmp_path / "a")

    # B: the same run in subprocesses, killed twice (inside a checkpoint write, then at a random step), resumed until done
    b_file = run_file(tmp_path, "b", **RESUME_SETTINGS)
    args = ["--config", str(b_file), "--threads", "1"]
    resume = args + ["--set", "train.resume=true"]  # the first start has nothing to resume from
    ckdir, metrics = tmp_path / "b" / "checkpoints", tmp_path / "b" / "metrics.jsonl"
    newest = lambda: (list_checkpoints(ckdir) or [(0, None)])[-1][0]

    # 1. killed inside its 3rd checkpoint write (step 6): the temp file is on disk, never renamed
    p = _start(args, KILL_IN_WRITE)
    p.wait(timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr.read()
    assert newest() == 4 and list(ckdir.glob(".ckpt-00000006.pt.*.tmp")), "the kill did not land inside the write"

    # 2. killed at a moment unrelated to checkpoints: 1 to 3 steps after the resumed run logs its first step
    seen, extra = len(read_metrics(metrics)), random.randint(1, 3)
    p = _start(resume)
    assert _kill_when(p, lambda: len(read_metrics(metrics)) >= seen + extra), p.stderr.read()
    assert 4 <= newest() < 16, "the run finished before the second kill"

    # 3. resumed to the end
    p = _start(resume)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    b = weights(tmp_path / "b")
    assert b["step"] == a["step"] == 16
    for k in a["model"]: assert torch.equal(a["model"][k], b["model"][k]), k
    for k in a["ema"]["shadow"]: assert torch.equal(a["ema"]["shadow"][k], b["ema"]["shadow"][k]), k
    losses = lambda d: [r["loss"] for r in read_metrics(tmp_path / d / "metrics.jsonl")]
    assert losses("a") == losses("b")  # one line per step, no step twice after the kills
    assert not list(ckdir.glob("*.tmp")), "stale temporary files are cleaned up"


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    data = ShapesDataset(16, 8)
    cfg = TrainConfig(out_dir=str(tmp_path / "typo"), max_steps=2, batch_size=4, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match=re.escape(f"resume=True but {tmp_path / 'typo'} holds no loadable checkpoint")):
        train(tiny_unet(None), data, cfg)
    assert not (tmp_path / "typo").exists(), "nothing is written: not a silent fresh start at step 0"
    (tmp_path / "typo" / "checkpoints").mkdir(parents=True)
    (tmp_path / "typo" / "checkpoints" / "ckpt-00000002.pt").write_bytes(b"torn")
    with pytest.warns(UserWarning, match="skipping unreadable checkpoint"), \
            pytest.raises(FileNotFoundError, match="none of the 1 files in .*checkpoints loads"):
        train(tiny_unet(None), data, cfg)


# -- failed checkpoint writes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("where,err", [("torch.save", errno.ENOSPC), ("os.replace", errno.EACCES)])
def test_failed_checkpoint_write_names_the_file_and_leaves_no_temp(tmp_path, monkeypatch, where, err):
    save_checkpoint(tmp_path, 1, {"w": torch.ones(2)})
    def fail(*a, **k): raise OSError(err, os.strerror(err))
    monkeypatch.setattr(C.torch if where == "torch.save" else C.os, where.split(".")[1], fail)
    with pytest.raises(OSError) as e:
        save_checkpoint(tmp_path, 2, {"w": torch.zeros(2)})
    assert e.value.errno == err and e.value.filename == str(checkpoint_path(tmp_path, 2))
    assert f"cannot write checkpoint: {os.strerror(err)}: '{checkpoint_path(tmp_path, 2)}'" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000001.pt"], "the temporary file is removed"
    monkeypatch.undo()
    assert load_checkpoint(checkpoint_path(tmp_path, 1))["w"].tolist() == [1.0, 1.0]


def test_disk_full_during_training_stops_with_the_checkpoint_path(tmp_path, monkeypatch):
    real, calls = torch.save, []
    def save(obj, f, *a, **k):  # the second checkpoint write finds the disk full half-way
        calls.append(1)
        if len(calls) == 2: f.write(b"partial"); raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *a, **k)
    monkeypatch.setattr(C.torch, "save", save)
    cfg = TrainConfig(out_dir=str(tmp_path / "full"), max_steps=6, batch_size=4, checkpoint_every=2, progress=False)
    ckdir = tmp_path / "full" / "checkpoints"
    with pytest.raises(OSError, match=re.escape(f"No space left on device: '{checkpoint_path(ckdir, 4)}'")):
        train(tiny_unet(None), ShapesDataset(16, 8), cfg)
    assert [p.name for p in ckdir.iterdir()] == ["ckpt-00000002.pt"]
    assert load_checkpoint(ckdir / "ckpt-00000002.pt")["step"] == 2


# -- non-finite loss --------------------------------------------------------------------------------------------

class NaNFrom:
    "An objective that returns NaN from its n-th call on."
    def __init__(self, objective, n): self.objective, self.n, self.calls = objective, n, 0
    def __call__(self, model, x0, cond=None, generator=None):
        self.calls += 1
        loss, logs = self.objective(model, x0, cond, generator)
        return (loss * float("nan") if self.calls >= self.n else loss), logs


def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "nan"), max_steps=30, batch_size=4, checkpoint_every=4, progress=False)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 10 .*last good checkpoint: .*ckpt-00000008.pt"):
        train(tiny_unet(None), ShapesDataset(16, 8), cfg, objective=NaNFrom(MSEObjective(Schedule()), 10))
    path, state = latest_checkpoint(tmp_path / "nan" / "checkpoints")
    assert state["step"] == 8 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert [r["step"] for r in read_metrics(tmp_path / "nan" / "metrics.jsonl")] == list(range(1, 10))


def test_non_finite_parameters_are_not_checkpointed(tmp_path):
    class NaNGrad:  # a finite loss whose gradient is NaN (d sqrt(u)/du at u = 0, times 0)
        def __call__(self, model, x0, cond=None, generator=None):
            out = model(x0, torch.zeros(len(x0), dtype=torch.long)).sample
            return (out * 0).sqrt().sum() + out.pow(2).mean(), {}
    cfg = TrainConfig(out_dir=str(tmp_path / "boom"), max_steps=5, batch_size=4, checkpoint_every=1,
                      max_grad_norm=None, progress=False)
    with pytest.raises(NonFiniteLossError, match="parameters are not finite after step 1; last good checkpoint: none"):
        train(tiny_unet(None), ShapesDataset(16, 8), cfg, objective=NaNGrad())
    assert list_checkpoints(tmp_path / "boom" / "checkpoints") == []


# -- bad configurations -----------------------------------------------------------------------------------------

BAD = [  # (train settings, model num_classes, expected message)
    (dict(objective="l2"), NUM_CLASSES, "unknown objective 'l2'; choose one of ['mse', 'sp', 'hybrid']"),
    (dict(objective="sp"), NUM_CLASSES, "objective 'sp' needs a frozen perceptual network"),
    (dict(weighting="p2", weighting_kwargs={"gamma": -1.0}), NUM_CLASSES, "P2 gamma must be >= 0"),
    (dict(weighting="p2", weighting_kwargs={"k": 0.0}, zero_terminal_snr=True, prediction_type="v_prediction"),
     NUM_CLASSES, "P2 k must be > 0"),
    (dict(weighting="p3"), NUM_CLASSES, "unknown weighting 'p3'"),
    (dict(batch_size=64), NUM_CLASSES, "batch_size 64 x 1 processes = 64 is larger than the dataset (32 items)"),
    (dict(p_uncond=1.5), NUM_CLASSES, "p_uncond must lie in [0, 1)"),
    (dict(ema_decay=1.0), NUM_CLASSES, "ema_decay must lie in [0, 1)"),
    (dict(lr=0.0), NUM_CLASSES, "lr must be > 0"),
    (dict(max_steps=0), NUM_CLASSES, "max_steps must be >= 1"),
    (dict(mixed_precision="fp8"), NUM_CLASSES, "mixed_precision must be 'no', 'fp16' or 'bf16'"),
    (dict(prediction_type="v"), NUM_CLASSES, "prediction_type must be one of"),
    (dict(schedule="quadratic"), NUM_CLASSES, "unknown schedule 'quadratic'"),
    (dict(data_key="video"), NUM_CLASSES, "dataset items must be dicts holding 'video'"),
    (dict(), 10, "18 classes need a model with num_class_embeds = 19"),
    (dict(batchsize=4), NUM_CLASSES, "unknown training setting 'batchsize'; did you mean 'batch_size'?"),
    (dict(lr="fast"), NUM_CLASSES, "training setting 'lr' = 'fast' cannot be read as float"),
    (dict(cpu="maybe"), NUM_CLASSES, "training setting 'cpu' = 'maybe' cannot be read as bool (true/false, yes/no, 1/0)"),
    (dict(max_steps=2.5), NUM_CLASSES, "training setting 'max_steps' = 2.5 cannot be read as int"),
    (dict(adam_betas=[0.9]), NUM_CLASSES, "training setting 'adam_betas' = [0.9] cannot be read as tuple[float, float]"),
    (dict(weighting_kwargs="gamma=1"), NUM_CLASSES, "training setting 'weighting_kwargs' = 'gamma=1' cannot be read as dict"),
    (dict(mixed_precision=False), NUM_CLASSES, "cannot be read as str; YAML reads unquoted yes/no/on/off/true/false as booleans"),
    (dict(weight_frame="eps"), NUM_CLASSES, "weight_frame must be one of ('native', 'epsilon')"),
    (dict(timestep_sampler="beta"), NUM_CLASSES, "unknown timestep_sampler 'beta'; choose one of ['uniform', 'logit_normal']"),
    (dict(timestep_sampler="logit_normal", timestep_sampler_kwargs={"sigma": 1.0}), NUM_CLASSES,
     "timestep_sampler 'logit_normal' takes ['mean', 'std'], not ['sigma']"),
    (dict(timestep_sampler="logit_normal", timestep_sampler_kwargs={"std": 0.0}), NUM_CLASSES, "logit-normal std must be > 0"),
    (dict(objective="sp", timestep_sampler="logit_normal"), NUM_CLASSES, "are options of the 'mse' objective; 'sp' draws its own timesteps"),
    (dict(weighting="edm", weighting_kwargs={"sigma_data": 0.0}), NUM_CLASSES, "EDM sigma_data must be > 0"),
    (dict(weighting="debiased", weighting_kwargs={"gamma": 1.0}), NUM_CLASSES, "weighting 'debiased' takes ['snr_min'], not ['gamma']"),
    (dict(schedule="scaled_linear", zero_terminal_snr=True), NUM_CLASSES,
     "zero terminal SNR needs prediction_type 'v_prediction' (or 'sample'), not 'epsilon'"),
]


@pytest.mark.parametrize("settings,num_classes,message", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_config_fails_before_training(tmp_path, settings, num_classes, message):
    path = run_file(tmp_path, "bad", **{"max_steps": 2, **settings})
    spec = yaml.safe_load(path.read_text())
    spec["model"]["kwargs"]["num_class_embeds"] = num_classes + 1
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match=re.escape(message)):
        main(["--config", str(path)])
    assert not (tmp_path / "bad").exists(), "nothing may be written before the configuration is known good"


def test_unconditional_model_with_dropout_and_existing_run_fail_early(tmp_path):
    data = ShapesDataset(16, 8)
    cfg = TrainConfig(out_dir=str(tmp_path / "u"), max_steps=1, batch_size=4, p_uncond=0.1, progress=False)
    with pytest.raises(ValueError, match="p_uncond = 0.1 but the model is unconditional"):
        train(tiny_unet(None), data, cfg)
    cfg.p_uncond = 0.0
    train(tiny_unet(None), data, cfg)
    with pytest.raises(FileExistsError, match="already holds checkpoints: pass resume=True"):
        train(tiny_unet(None), data, cfg)
    cfg.resume, cfg.lr = True, 1e-3
    with pytest.raises(ValueError, match=r"settings differ from the checkpoint's .*'lr': \(0.0001, 0.001\)"):
        train(tiny_unet(None), data, cfg)


# -- typed run files ---------------------------------------------------------------------------------------------

def test_yaml_strings_are_converted_to_the_declared_types(tmp_path):
    path = run_file(tmp_path, "typed", max_steps=2, batch_size=4, lr=0.5, adam_eps=0.5, cpu=False, ema_decay=0.5)
    text = path.read_text()
    for old, new in [("lr: 0.5", "lr: 1e-4"), ("adam_eps: 0.5", "adam_eps: 1e-8"), ("cpu: false", "cpu: 'No'"),
                     ("ema_decay: 0.5", "ema_decay: null")]:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)  # what a person writes: YAML reads 1e-4 (no dot) as the string "1e-4"
    train_section = yaml.safe_load(text)["train"]
    assert train_section["lr"] == "1e-4" and train_section["adam_eps"] == "1e-8"
    assert main(["--config", str(path), "--set", "train.max_grad_norm=none", "train.seed=7.0"]) == 2
    saved = json.loads((tmp_path / "typed" / "config.json").read_text())
    assert (saved["lr"], saved["adam_eps"], saved["cpu"], saved["ema_decay"], saved["max_grad_norm"], saved["seed"]) == \
        (1e-4, 1e-8, False, None, None, 7)
    assert type(saved["seed"]) is int


def test_from_dict_types():
    c = TrainConfig.from_dict({"lr": "1e-4", "adam_eps": "1e-8", "max_steps": "1e3", "cpu": "TRUE", "progress": 0,
                               "adam_betas": ["0.9", 0.99], "max_grad_norm": "2", "weighting_kwargs": {"gamma": 1}})
    assert (c.lr, c.adam_eps, c.max_steps, c.cpu, c.progress, c.adam_betas, c.max_grad_norm) == \
        (1e-4, 1e-8, 1000, True, False, (0.9, 0.99), 2.0)
    assert type(c.lr) is float and type(c.max_steps) is int and type(c.max_grad_norm) is float
    for word, value in [("yes", True), ("No", False), ("1", True), ("0", False), ("false", False)]:
        assert TrainConfig.from_dict({"resume": word}).resume is value
    for bad in ("maybe", "on", "y", "2", 2):
        with pytest.raises(ValueError, match=re.escape(f"'resume' = {bad!r} cannot be read as bool")):
            TrainConfig.from_dict({"resume": bad})
    with pytest.raises(ValueError, match=re.escape("training setting 'lr' = 'fast' cannot be read as float")):
        TrainConfig.from_dict({"lr": "fast"})
    with pytest.raises(ValueError, match=re.escape("'batch_size' = True cannot be read as int")):
        TrainConfig.from_dict({"batch_size": True})
    with pytest.raises(ValueError, match=re.escape("'ema_decay' = 'slow' cannot be read as float or None")):
        TrainConfig.from_dict({"ema_decay": "slow"})


# -- loss weighting frame ---------------------------------------------------------------------------------------

def test_weight_frame_native_trains_every_t_of_a_zero_terminal_snr_v_model():
    z = Schedule("scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction")
    assert torch.equal(MSEObjective(z).weights, torch.ones(1000))  # the plain v-MSE, t = 999 included
    cfg = TrainConfig(schedule="scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction")
    assert torch.equal(make_objective(cfg, cfg.make_schedule()).weights, torch.ones(1000))
    eps = make_objective(TrainConfig(**{**cfg.__dict__, "weight_frame": "epsilon"}), z).weights
    torch.testing.assert_close(eps[:999], z.alphas_cumprod[:999], rtol=1e-5, atol=1e-7)  # eps-MSE = ab * v-MSE
    assert eps[990:999].max() < 1e-4


# -- tiny end-to-end runs ---------------------------------------------------------------------------------------

def test_tiny_mse_run_end_to_end(tmp_path):
    data = ShapesDataset(32, 8)
    cfg = TrainConfig(out_dir=str(tmp_path / "mse"), max_steps=30, batch_size=8, lr=2e-3, p_uncond=0.1,
                      weighting="min_snr", checkpoint_every=10, progress=False)
    res = train(tiny_unet(), data, cfg, conditioner=ClassConditioner(NUM_CLASSES))
    assert res.step == 30 and [s for s, _ in list_checkpoints(tmp_path / "mse" / "checkpoints")] == [20, 30]
    losses = [r["loss"] for r in res.metrics]
    assert len(losses) == 30 and sum(losses[-10:]) < sum(losses[:10])
    assert {"step", "loss", "mse", "lr", "samples_per_s"} <= set(res.metrics[0])
    assert json.loads((tmp_path / "mse" / "config.json").read_text())["weighting"] == "min_snr"
    m = tiny_unet(seed=1)
    assert load_weights(m, tmp_path / "mse") == 30


ZTSNR_V = dict(schedule="scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction")
NEW_OPTIONS = {  # the weightings and the timestep sampler beside none / p2 / min_snr, as a run file names them
    "debiased": dict(weighting="debiased"),
    "edm": dict(weighting="edm", weighting_kwargs={"sigma_data": 0.5}),
    "debiased eps-frame ztsnr-v": dict(weighting="debiased", weight_frame="epsilon", **ZTSNR_V),
    "edm eps-frame ztsnr-v": dict(weighting="edm", weight_frame="epsilon", **ZTSNR_V),
    "logit_normal": dict(timestep_sampler="logit_normal", timestep_sampler_kwargs={"mean": 0.0, "std": 1.0}),
    "logit_normal edm ztsnr-v": dict(timestep_sampler="logit_normal", weighting="edm", weight_frame="epsilon", **ZTSNR_V),
}


@pytest.mark.parametrize("name", list(NEW_OPTIONS))
def test_new_weightings_and_logit_normal_sampler_train_from_a_run_file(tmp_path, name):
    settings = NEW_OPTIONS[name]
    path = run_file(tmp_path, "run", max_steps=3, batch_size=4, checkpoint_every=3, ema_decay=0.9, **settings)
    assert main(["--config", str(path)]) == 3
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3] and all(torch.isfinite(torch.tensor([r["loss"], r["mse"]])).all() for r in rows)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert {k: saved[k] for k in settings} == settings
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "run")["model"].values())


def test_checkpoint_saved_before_timestep_sampler_existed_resumes(tmp_path):
    "A run saved without the timestep_sampler settings drew t uniformly: it resumes under the default, and refuses another sampler."
    data = ShapesDataset(16, 8)
    cfg = TrainConfig(out_dir=str(tmp_path / "old"), max_steps=2, batch_size=4, checkpoint_every=2, progress=False)
    train(tiny_unet(None), data, cfg)
    path, state = latest_checkpoint(tmp_path / "old" / "checkpoints")
    for k in ("timestep_sampler", "timestep_sampler_kwargs"): del state["config"][k]
    path.unlink(); save_checkpoint(tmp_path / "old" / "checkpoints", 2, state)
    with pytest.raises(ValueError, match=re.escape("'timestep_sampler': ('uniform', 'logit_normal')")):
        train(tiny_unet(None), data, TrainConfig(**{**cfg.__dict__, "resume": True, "max_steps": 3, "timestep_sampler": "logit_normal"}))
    assert train(tiny_unet(None), data, TrainConfig(**{**cfg.__dict__, "resume": True, "max_steps": 3})).step == 3


def test_tiny_sp_run_end_to_end(tmp_path):
    sp_loss = pytest.importorskip("percep_lib.sp_loss")
    data = ShapesDataset(32, 8)
    mse = TrainConfig(out_dir=str(tmp_path / "mse"), max_steps=10, batch_size=8, lr=2e-3, prediction_type="v_prediction",
                      progress=False)
    res = train(tiny_unet(), data, mse, conditioner=ClassConditioner(NUM_CLASSES))
    perceptual = sp_loss.frozen_copy(res.ema_model())
    sp = TrainConfig(out_dir=str(tmp_path / "sp"), max_steps=10, batch_size=8, lr=1e-3, objective="sp",
                     prediction_type="v_prediction", progress=False)
    out = train(res.model, data, sp, conditioner=ClassConditioner(NUM_CLASSES), perceptual=perceptual)
    assert out.step == 10 and all(torch.isfinite(torch.tensor(r["loss"])) for r in out.metrics)
    assert {"sp"} <= set(out.metrics[0])
    assert all(not p.requires_grad for p in perceptual.parameters())


# -- several processes ------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_accelerate_launch_two_cpu_processes(tmp_path):
    path = run_file(tmp_path, "ddp", max_steps=3, batch_size=4, p_uncond=0.1, checkpoint_every=3, cpu=True)
    launcher = Path(sys.executable).parent / "accelerate"
    # `launch --cpu` starts ONE process whatever --num_processes says; `--multi_gpu` starts N through torch.distributed,
    # and Accelerator(cpu=True) (train.cpu above) then runs them as MULTI_CPU over gloo, with or without GPUs.
    cmd = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "percep_lib.cli", "--config", str(path), "--threads", "1"]
    t0 = time.time()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=110,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    state = weights(tmp_path / "ddp")
    assert state["step"] == 3 and len(state["rng"]) == 2, "two processes, both RNG states saved"
    rows = read_metrics(tmp_path / "ddp" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    print(f"accelerate launch, 2 processes, 3 steps: {time.time() - t0:.0f} s")
