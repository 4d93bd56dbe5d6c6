"""Rebuild and measure the stage-1 model that the default profile of nbs/05_sp_finetune.ipynb ships.

    python scripts/sp_finetune/stage1.py                 # train both phases (1.5 h at --threads 2), export, measure
    python scripts/sp_finetune/stage1.py --skip-training # export and measure the phases' checkpoints already in .cache/
    python scripts/sp_finetune/stage1.py --measure-only  # measure the shipped weights again and rewrite the card

Phase 1 (stage1_phase1.yaml) and phase 2 (stage1_phase2.yaml) are ordinary run files of `python -m percep_lib`;
their `model` section is the profile's (`percep_lib.build.builder.model_spec`), which the script checks.
The EMA weights of phase 2's last checkpoint become data/sp_finetune/stage1_default.pt. The card beside them
(stage1_default.json) records how they were made and what they measure: the ground-truth rates and FID of the
unguided 25-step samples of 192 held-out captions (the MSE row of the main table), and the v-MSE at t = T against its
floor (at SNR 0 the best v-prediction is -E[x0 | caption], so no model can go below the caption-wise variance of x0).
"""
import argparse, collections, json, subprocess, sys
from pathlib import Path
import torch, yaml
from percep_lib.train.checkpoints import load_weights
from percep_lib.data.shapes import ShapesDataset
from percep_lib.build.builder import CAPTION_UNET, build_data, build_model, build_parts, load_model, model_spec
from percep_lib.exp.stages import generate, save_model
from percep_lib.exp.scoring import Scorer
from percep_lib.exp.envelope import environment, git_commit, pin_determinism
from percep_lib.train.loop import read_metrics

HERE = Path(__file__).resolve().parent.parent.parent / "data" / "sp_finetune"  # run files and weights (from scripts/)
ROOT = HERE.parent.parent
PHASES = [HERE / "stage1_phase1.yaml", HERE / "stage1_phase2.yaml"]
WEIGHTS = HERE / "stage1_default.pt"
SCHEDULE = dict(schedule="scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction")
UNET = CAPTION_UNET  # the 05 default profile's UNet


def profile():
    "The parts of the 05 default profile: the architecture the shipped weights have."
    return dict(source="tiny", latents="pixels", resolution=32, text_dim=32, unet=UNET, n_train=100_000, n_eval=192)


def plain(x):
    "`x` as a run file reads back: tuples become lists."
    if isinstance(x, dict): return {k: plain(v) for k, v in x.items()}
    return [plain(v) for v in x] if isinstance(x, (list, tuple)) else x


def spec(i):
    "Phase i's run file, whose model (but for init_from, init_ema) must be the profile's: the weights fit its parts."
    run = yaml.safe_load(PHASES[i].read_text())
    model = {k: v for k, v in run["model"].items() if k not in ("init_from", "init_ema")}
    if model != plain(model_spec(profile())):
        raise ValueError(f"{PHASES[i]}: its model section {model} is not the profile's {plain(model_spec(profile()))}")
    return run


def v_mse_at_T(model, parts, n=512):
    "v-MSE at t = T (where v = -x0) on n training images, with their captions and with the empty caption."
    ds = ShapesDataset(n, size=parts.latent_shape[-1], seed=0)
    x0 = torch.stack([ds[i]["image"] for i in range(n)])
    t = torch.full((n,), parts.schedule.T - 1)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    out = {}
    with torch.no_grad():
        for name, caps in [("cond", [ds[i]["caption"] for i in range(n)]), ("uncond", [""] * n)]:
            c = parts.conditioner.encode(caps)["encoder_hidden_states"]
            pred = torch.cat([model(parts.schedule.add_noise(x0[i:i + 128], eps[i:i + 128], t[i:i + 128]), t[i:i + 128],
                                    encoder_hidden_states=c[i:i + 128]).sample for i in range(0, n, 128)])
            out[name] = float(((pred - parts.schedule.velocity(x0, eps, t)) ** 2).mean())
    return out


def floors(n=20_000):
    "The least v-MSE at t = T: the caption-wise variance of x0 (conditional) and its variance (unconditional)."
    ds, groups = ShapesDataset(100_000, size=32, seed=0), collections.defaultdict(list)
    for i in range(n): it = ds[i]; groups[it["caption"]].append(it["image"])
    xs = [torch.stack(v) for v in groups.values()]
    cond = sum(float(((x - x.mean(0)) ** 2).sum()) for x in xs) / sum(x.numel() for x in xs)
    allx = torch.cat(xs)
    return {"cond": cond, "uncond": float(((allx - allx.mean(0)) ** 2).mean())}


def measure(model, parts, n=192):
    _, ev = build_data(dict(profile(), n_eval=n), seed=0)
    _, images = generate(model, parts, ev.captions, steps=25, seed=0)
    s = Scorer(ev, n_boot=200)(images)
    keep = ("n", "solid", "solid_se", "shape_acc", "shape_acc_se", "color_acc", "color_acc_se", "aligned", "aligned_se",
            "fid", "fid_se")
    return dict(samples="unguided DDIM 25 steps ('trailing'), the 192 held-out captions of the 05 default profile, "
                        "seeds 0..191",
                **{k: round(float(s[k]), 4) for k in keep},
                v_mse_at_T={k: round(v, 4) for k, v in v_mse_at_T(model, parts).items()},
                v_mse_floor_at_T={k: round(v, 4) for k, v in floors().items()})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--measure-only", action="store_true", help="measure the shipped weights; train nothing")
    ap.add_argument("--skip-training", action="store_true",
                    help="export and measure the phases' checkpoints already in .cache/")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    pin_determinism(args.threads)
    parts = build_parts(profile(), SCHEDULE, seed=0)
    if args.measure_only:
        model, card = load_model(parts, WEIGHTS), json.loads(WEIGHTS.with_suffix(".json").read_text())
    else:
        for p in PHASES if not args.skip_training else []:
            spec(PHASES.index(p))  # the run file builds the profile's model
            subprocess.run([sys.executable, "-m", "percep_lib", "--config", str(p), "--threads", str(args.threads)],
                           cwd=ROOT, check=True)
        last = ROOT / spec(1)["train"]["out_dir"] / "checkpoints" / f"ckpt-{spec(1)['train']['max_steps']:08d}.pt"
        model = build_model(model_spec(profile()))
        load_weights(model, last, ema=True)
        logs = [read_metrics(ROOT / spec(i)["train"]["out_dir"] / "metrics.jsonl", upto=spec(i)["train"]["max_steps"])
                for i in (0, 1)]
        made_by = "python scripts/sp_finetune/stage1.py" + (f" --threads {args.threads}" if args.threads != 1 else "")
        card = dict(made_by=made_by, phases=[str(p.relative_to(ROOT)) for p in PHASES],
                    steps=[spec(i)["train"]["max_steps"] for i in (0, 1)],
                    commit=git_commit(ROOT), torch_threads=args.threads, schedule=SCHEDULE,
                    loss="unweighted v-MSE (weighting 'none', native frame), 10% caption dropout",
                    ema="weights are the EMA (decay 0.999) of phase 2's last step", unet=profile()["unet"],
                    text_dim=profile()["text_dim"],
                    final_loss_last_500=round(sum(r["loss"] for r in logs[1][-500:]) / 500, 4),
                    training_hours=round(sum(l[-1]["time"] - l[0]["time"] for l in logs) / 3600, 2))
    card["measured"] = dict(measure(model.eval(), parts), commit=git_commit(ROOT), machine=environment()["cpu"])
    save_model(model, WEIGHTS, card)
    print(json.dumps(card, indent=1))
