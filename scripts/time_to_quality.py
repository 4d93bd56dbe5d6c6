"""Time-to-quality of the 06 baseline recipe: how many CPU minutes of training a model needs before its EMA samples
are finished shapes. Writes results/bench/time_to_quality.csv, ttq_curves.csv and time_to_quality.png.

    python scripts/time_to_quality.py train landed      # one recipe of RECIPES, 1 thread (run two side by side)
    python scripts/time_to_quality.py score landed      # every kept checkpoint, by each scoring sampler of the recipe
    python scripts/time_to_quality.py table             # the tables and the figure from every scored recipe

The recipe is the P2 paper's baseline (L_simple, eps-prediction, linear schedule, T = 1000) on unconditional 32-px
shapes from 1024 training images, as notebook 06 trains it; a recipe changes only the optimisation (batch, lr and its
schedule, EMA decay), the UNet's width and how its samples are drawn for scoring. Training keeps a checkpoint at
evenly spaced steps; the CPU time of the training process up to each checkpoint is read from the wall-clock stamps
of its metrics.jsonl, scaled by the process's CPU time over its wall time (1 thread: about 1). Each checkpoint's EMA
weights draw n = 192 samples with paired seeds; `solid` (the ground truth: one clean solid shape) and FID on the
shapes' feature network (`percep-shapes-net`, not Inception) against 192 held-out images score them; the real-vs-real
FID of 192 training images is the floor. A recipe has reached quality at its first checkpoint with solid >= 0.9.
Scoring time is not training time and is reported apart.

Training runs go to --work (default runs/time_to_quality/<recipe>: checkpoints, metrics.jsonl, cpu.json); the scores
of each checkpoint go to results/bench/ttq/<recipe>.jsonl, which is small and committed, so `table` needs no
checkpoints.
"""
import argparse, json, time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch

from percep_lib.build.builder import build_data, build_parts
from percep_lib.exp.envelope import environment, git_commit
from percep_lib.exp.scoring import Rows, Scorer, load_checkpoint
from percep_lib.train.checkpoints import list_checkpoints
from percep_lib.train.config import TrainConfig
from percep_lib.train.loop import train

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench"
SCHEDULE = dict(schedule="linear", prediction_type="epsilon", T=1000)  # P2's setting, as 06
SHAPES_UNET = dict(layers_per_block=1, norm_num_groups=8, attention_head_dim=8, down_block_types=(
    "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))
DATA = dict(source="shapes", latents="pixels", resolution=32, n_train=1024, n_eval=192, learn_sigma=False)
LANDED = dict(width=(16, 32, 32), batch=16, lr=1e-3, warmup=50, lr_schedule="constant", ema=0.995,
              score=("ddim:25", "ddpm:250"))  # 06 default's optimisation; it scores with DDIM 25 trailing
RECIPES = {  # name -> the optimisation, its training steps and how many evenly spaced checkpoints are scored
    "landed": dict(LANDED, steps=10_000, n_ck=5),
    "small64": dict(LANDED, batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999, steps=4500, n_ck=5),
    "long64": dict(LANDED, batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999, steps=8000, n_ck=8),
    "wide64": dict(LANDED, width=(32, 64, 64), batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999,
                   steps=3600, n_ck=6),
    "smoke": dict(LANDED, steps=4, n_ck=2, score=("ddim:2", "ddpm:3")),  # the tests, seconds
}
SMOKE_DATA = dict(DATA, resolution=16, n_train=64, n_eval=16)
THRESHOLD = 0.9  # solid share of a finished model


def machine() -> str:
    "The CPU and its vector capability, as the tables record it."
    env = environment()
    return f"{env['cpu']}, {env['cpu_capability']}"


def profile(name: str) -> tuple[dict, dict]:
    "(the recipe, the data/model settings build_parts and build_data read) of a recipe name."
    if name not in RECIPES: raise SystemExit(f"unknown recipe {name!r}; choose one of {list(RECIPES)}")
    R = RECIPES[name]
    data = SMOKE_DATA if name == "smoke" else DATA
    return R, dict(data, unet=dict(SHAPES_UNET, block_out_channels=R["width"]))


def train_recipe(name: str, work: Path, threads: int):
    "Train one recipe to its last step, keeping every scored checkpoint; record its CPU and wall time."
    R, P = profile(name)
    torch.set_num_threads(threads)
    train_set, _ = build_data(P, seed=0)
    parts = build_parts(P, SCHEDULE, seed=0)
    cfg = TrainConfig(out_dir=str(work), max_steps=R["steps"], batch_size=R["batch"], lr=R["lr"],
                      lr_warmup_steps=R["warmup"], lr_schedule=R["lr_schedule"], ema_decay=R["ema"],
                      checkpoint_every=max(1, R["steps"] // R["n_ck"]), keep_checkpoints=R["n_ck"] + 1, cpu=True,
                      seed=0, progress=True, log_every=1, **SCHEDULE)
    c0, w0 = time.process_time(), time.time()
    train(parts.new_model(), train_set, cfg, schedule=parts.schedule)
    info = dict(cpu=time.process_time() - c0, wall=time.time() - w0, t0=w0, recipe=R, threads=threads,
                machine=machine(), commit=git_commit(ROOT))
    (work / "cpu.json").write_text(json.dumps(info, indent=1))
    print(f"{name}: {R['steps']} steps, {info['cpu'] / 60:.1f} CPU min, {info['wall'] / 60:.1f} min wall")


def score_recipe(name: str, work: Path, threads: int):
    "Score every kept checkpoint of a trained recipe with each of its samplers; append to results/bench/ttq/."
    R, P = profile(name)
    torch.set_num_threads(threads)
    info = json.loads((work / "cpu.json").read_text())
    stamps = {r["step"]: r["time"] for r in map(json.loads, open(work / "metrics.jsonl"))}
    losses = [r["loss"] for r in map(json.loads, open(work / "metrics.jsonl"))]
    scale = info["cpu"] / info["wall"]  # CPU seconds per wall second of the training process
    _, ev = build_data(P, seed=0)
    parts = build_parts(P, SCHEDULE, seed=0)
    scorer = Scorer(ev, "percep-shapes-net", n_boot=50, seed=0)
    floor = scorer.ground_truth()
    dest = OUT / "ttq" / f"{name}.jsonl"
    dest.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for spec in R["score"]:
        sampler, steps = spec.split(":")
        rows = Rows(parts, scorer, seed=0, batch_size=64, sampler=sampler)
        for step, path in list_checkpoints(work / "checkpoints"):
            c0 = time.process_time()
            r = rows.add(str(step), load_checkpoint(parts, path), int(steps))
            lines.append(dict(recipe=name, sampler=f"{sampler} {steps}", train_step=step,
                              images_seen=step * R["batch"], cpu_minutes=round((stamps[step] - info["t0"]) * scale / 60, 2),
                              solid=r["solid"], solid_se=r["solid_se"], fid=r["fid"], fid_se=r["fid_se"],
                              floor_fid=floor["fid"], train_loss=sum(losses[max(0, step - 100):step]) / min(100, step),
                              score_cpu_s=round(time.process_time() - c0, 1), threads=info["threads"],
                              machine=machine(), commit=info["commit"]))  # scored where it trained
            print(json.dumps(lines[-1]), flush=True)
    dest.write_text("".join(json.dumps(x) + "\n" for x in lines))


def table():
    "time_to_quality.csv (one row per recipe and sampler), ttq_curves.csv (every scored checkpoint) and the figure."
    found = sorted((OUT / "ttq").glob("*.jsonl"))
    curves = pd.DataFrame([json.loads(l) for f in found if f.stem != "smoke" for l in open(f)])
    if curves.empty: raise SystemExit(f"no scored recipes in {OUT / 'ttq'}: run `score` first")
    rows = []
    for (recipe, sampler), g in curves.groupby(["recipe", "sampler"], sort=False):
        g = g.sort_values("train_step")
        hit = g[g.solid >= THRESHOLD]
        at = hit.iloc[0] if len(hit) else g.iloc[-1]
        rows.append(dict(model="06 UNet2DModel " + "x".join(map(str, RECIPES[recipe]["width"])), recipe=recipe,
                         sampler=sampler, reached=bool(len(hit)), cpu_minutes=at.cpu_minutes, train_step=at.train_step,
                         solid=at.solid, fid=at.fid, floor_fid=at.floor_fid, best_solid=g.solid.max(),
                         threads=at.threads, machine=at.machine, commit=at.commit))
    pd.DataFrame(rows).to_csv(OUT / "time_to_quality.csv", index=False)
    curves.to_csv(OUT / "ttq_curves.csv", index=False)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for (recipe, sampler), g in curves.groupby(["recipe", "sampler"], sort=False):
        g = g.sort_values("cpu_minutes")
        ax[0].plot(g.cpu_minutes, g.solid, marker="o", label=f"{recipe}, {sampler}")
        ax[1].plot(g.cpu_minutes, g.fid, marker="o", label=f"{recipe}, {sampler}")
    ax[0].axhline(THRESHOLD, color="k", lw=0.8, ls="--"); ax[1].axhline(curves.floor_fid.iloc[0], color="k", lw=0.8,
                                                                       ls="--", label="real vs real")
    ax[0].set(xlabel="training CPU minutes", ylabel="solid (n = 192)", ylim=(0, 1))
    ax[1].set(xlabel="training CPU minutes", ylabel="FID, percep-shapes-net", yscale="log")
    ax[1].legend(fontsize=7)
    fig.tight_layout(); fig.savefig(OUT / "time_to_quality.png", dpi=110)
    print(pd.DataFrame(rows).to_string())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["train", "score", "table"])
    ap.add_argument("recipe", nargs="?", help="a key of RECIPES (train, score)")
    ap.add_argument("--work", default="", help="the run's folder (default: runs/time_to_quality/<recipe>)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (pinned: results depend on it)")
    ap.add_argument("--results", default=str(OUT), help="where ttq/ and the tables go (default: results/bench)")
    a = ap.parse_args()
    OUT = Path(a.results)
    if a.what == "table": table()
    else:
        if not a.recipe: ap.error(f"{a.what} needs a recipe: one of {list(RECIPES)}")
        work = Path(a.work) if a.work else ROOT / "runs" / "time_to_quality" / a.recipe
        (train_recipe if a.what == "train" else score_recipe)(a.recipe, work, a.threads)
