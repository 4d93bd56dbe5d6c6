"""Time-to-quality: how many CPU minutes of training a default model needs before its EMA samples are finished.
Writes results/bench/time_to_quality.csv, ttq_curves.csv and time_to_quality.png.

    python scripts/time_to_quality.py train landed      # one recipe of RECIPES, 1 thread (run two side by side)
    python scripts/time_to_quality.py score landed      # every kept checkpoint, by each scoring sampler of the recipe
    python scripts/time_to_quality.py table             # the tables and the figure from every scored recipe

Three models, each as its experiment trains it:
- 06: P2's baseline (L_simple, eps-prediction, linear schedule, T = 1000) on unconditional 32-px shapes from 1024
  training images; finished when solid >= 0.9 (one clean solid shape per image).
- 05: the SP stage-1 model (caption-conditional UNet2DConditionModel, v-prediction, zero-terminal-SNR scaled-linear
  schedule, 10% caption dropout) on captioned 32-px shapes; finished when solid >= 0.9 and aligned (the asked shape
  and colour) >= 0.7, the shipped stage-1 model's level.
- 07: the plain Latte of the 07 default profile (class-conditional, v-prediction) on 8-frame 32-px moving-shapes
  clips; finished when solid_frames >= 0.5 (issue "07 where its claims live").
A recipe changes only the optimisation (batch, lr and its schedule, EMA decay), the width and how samples are drawn
for scoring; the P2 pilot pair (long64-base, long64-p2) also the loss weighting, P2's gamma = 1 against L_simple. Training keeps a checkpoint at evenly spaced steps; the CPU time of the training process up to each
checkpoint is read from the process's CPU clock that metrics.jsonl records at every step, so a recipe can be scored
while it still trains (`score` skips the checkpoints it has scored before). Each checkpoint's EMA weights draw
n = 192 samples (96 clips) with paired seeds; the ground truth and FID on the shapes' feature network
(`percep-shapes-net`, not Inception; frame FID for clips) against held-out images score them; the real-vs-real FID is
the floor. A recipe has reached quality at its first checkpoint
that meets its model's thresholds. Scoring time is not training time and is reported apart.

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

from percep_lib.build.builder import CAPTION_UNET, SHAPES_LATTE, SHAPES_UNET, build_data, build_parts
from percep_lib.exp.envelope import environment, git_commit
from percep_lib.exp.video import MOVING_SHAPES_CLASSES, VideoScorer, video_data, video_parts
from percep_lib.exp.scoring import Rows, Scorer, load_checkpoint
from percep_lib.train.checkpoints import list_checkpoints
from percep_lib.train.config import TrainConfig
from percep_lib.train.loop import read_metrics, train

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench"
SCHEDULE = dict(schedule="linear", prediction_type="epsilon", T=1000)  # P2's setting, as 06
DATA = dict(source="shapes", latents="pixels", resolution=32, n_train=1024, n_eval=192, learn_sigma=False)
MODELS = {  # model -> its data and model settings, schedule, training data key, caption dropout, finish thresholds
    "06": dict(P=dict(DATA, unet=SHAPES_UNET), schedule=SCHEDULE, data_key="image", p_uncond=0.0,
               smoke=dict(resolution=16, n_train=64, n_eval=16), finished={"solid": 0.9}, fid="fid",
               name="06 UNet2DModel"),
    "05": dict(P=dict(source="tiny", latents="pixels", resolution=32, text_dim=32, unet=CAPTION_UNET, n_train=100_000,
                      n_eval=192), schedule=dict(schedule="scaled_linear", zero_terminal_snr=True,
                                                 prediction_type="v_prediction"), data_key="image", p_uncond=0.1,
               smoke=dict(resolution=16, n_train=64, n_eval=16), finished={"solid": 0.9, "aligned": 0.7}, fid="fid",
               name="05 UNet2DConditionModel"),
    "07": dict(P=dict(source="moving_shapes", latents="pixels", resolution=32, frames=8, n_train=2048, n_eval=96,
                      num_classes=MOVING_SHAPES_CLASSES, latte=SHAPES_LATTE),
               schedule=dict(prediction_type="v_prediction"), data_key="video", p_uncond=0.0,
               smoke=dict(resolution=16, frames=4, n_train=16, n_eval=4), finished={"solid_frames": 0.5},
               fid="frame_fid", name="07 Latte"),
}
LANDED = dict(model="06", width=(16, 32, 32), batch=16, lr=1e-3, warmup=50, lr_schedule="constant", ema=0.995,
              score=("ddim:25", "ddpm:250"))  # 06 default's optimisation; it scores with DDIM 25 trailing
SP_STAGE1 = dict(model="05", width=(32, 64, 64), batch=16, lr=1e-3, warmup=100, lr_schedule="constant", ema=0.999,
                 score=("ddim:25",))  # the shipped stage 1's phase 1 (05 samples by DDIM 25)
LATTE = dict(model="07", width=(4, 16), batch=8, lr=1e-3, warmup=50, lr_schedule="constant", ema=0.995,
             score=("ddim:20",))  # the 07 default profile; width: heads, head_dim
RECIPES = {  # name -> the optimisation, its training steps and how many evenly spaced checkpoints are scored
    "landed": dict(LANDED, steps=10_000, n_ck=5),
    "small64": dict(LANDED, batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999, steps=4500, n_ck=5),
    "long64": dict(LANDED, batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999, steps=8000, n_ck=8),
    # the P2 pilot: long64 as the baseline (L_simple) and with P2's weighting (gamma = 1, k = 1), trained side by side
    # on one machine from the same seed (same initialisation, data order and draws), scored by DDPM 250 only
    "long64-base": dict(LANDED, batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999, steps=8000, n_ck=8,
                        score=("ddpm:250",)),
    "long64-p2": dict(LANDED, batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999, steps=8000, n_ck=8,
                      score=("ddpm:250",), weighting="p2", weighting_kwargs=dict(gamma=1.0, k=1.0)),
    "wide64": dict(LANDED, width=(32, 64, 64), batch=64, lr=2e-3, warmup=200, lr_schedule="cosine", ema=0.999,
                   steps=3600, n_ck=6),
    "sp-stage1": dict(SP_STAGE1, steps=9000, n_ck=6),
    "latte": dict(LATTE, steps=12_000, n_ck=6),
    "latte-ddpm": dict(LATTE, steps=12_000, n_ck=6, score=("ddpm:250",)),  # the latte run, by ancestral sampling
    "smoke": dict(LANDED, steps=4, n_ck=2, score=("ddim:2", "ddpm:3")),  # the tests, seconds
    "smoke-05": dict(SP_STAGE1, width=(16, 32), steps=2, n_ck=1, score=("ddim:2",)),
    "smoke-07": dict(LATTE, width=(2, 8), steps=2, n_ck=1, score=("ddim:2",)),
}


def machine() -> str:
    "The CPU and its vector capability, as the tables record it."
    env = environment()
    return f"{env['cpu']}, {env['cpu_capability']}"


def profile(name: str) -> tuple[dict, dict, dict]:
    "(the recipe, its model's entry of MODELS, the profile settings build_parts/video_parts read) of a recipe name."
    if name not in RECIPES: raise SystemExit(f"unknown recipe {name!r}; choose one of {list(RECIPES)}")
    R = RECIPES[name]
    M = MODELS[R["model"]]
    P = dict(M["P"], **(M["smoke"] if name.startswith("smoke") else {}))
    if R["model"] == "07": P["latte"] = dict(P["latte"], heads=R["width"][0], head_dim=R["width"][1])
    else:
        P["unet"] = dict(P["unet"], block_out_channels=R["width"])
        if name.startswith("smoke") and R["model"] == "05":  # two levels at 16 px
            P["unet"].update(down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                             up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=8)
    return R, M, P


def parts_data(R: dict, M: dict, P: dict):
    "(parts, training set, evaluation set) of a recipe's model."
    if R["model"] == "07": return video_parts(P, M["schedule"], seed=0), *video_data(P, seed=0)
    return build_parts(P, M["schedule"], seed=0), *build_data(P, seed=0)


def train_recipe(name: str, work: Path, threads: int):
    "Train one recipe to its last step, keeping every scored checkpoint; record its CPU and wall time."
    R, M, P = profile(name)
    torch.set_num_threads(threads)
    parts, train_set, _ = parts_data(R, M, P)
    cfg = TrainConfig(out_dir=str(work), max_steps=R["steps"], batch_size=R["batch"], lr=R["lr"],
                      lr_warmup_steps=R["warmup"], lr_schedule=R["lr_schedule"], ema_decay=R["ema"],
                      checkpoint_every=max(1, R["steps"] // R["n_ck"]), keep_checkpoints=R["n_ck"] + 1, cpu=True,
                      seed=0, progress=True, log_every=1, data_key=M["data_key"], p_uncond=M["p_uncond"],
                      weighting=R.get("weighting", "none"), weighting_kwargs=R.get("weighting_kwargs", {}),
                      **M["schedule"])
    c0, w0 = time.process_time(), time.time()
    info = dict(c0=c0, t0=w0, recipe=R, threads=threads, machine=machine(), commit=git_commit(ROOT))
    work.mkdir(parents=True, exist_ok=True)
    (work / "cpu.json").write_text(json.dumps(info, indent=1))  # written first: a running recipe can be scored
    train(parts.new_model(), train_set, cfg, schedule=parts.schedule, conditioner=parts.conditioner)
    info.update(cpu=time.process_time() - c0, wall=time.time() - w0)
    (work / "cpu.json").write_text(json.dumps(info, indent=1))
    print(f"{name}: {R['steps']} steps, {info['cpu'] / 60:.1f} CPU min, {info['wall'] / 60:.1f} min wall")


def score_recipe(name: str, work: Path, threads: int, only=None):
    "Score every kept checkpoint of a trained recipe with each of its samplers; append to results/bench/ttq/."
    R, M, P = profile(name)
    torch.set_num_threads(threads)
    info = json.loads((work / "cpu.json").read_text())
    log = read_metrics(work / "metrics.jsonl")
    losses = [r["loss"] for r in log]
    if "process_cpu_s" in log[0]:  # the training process's own CPU clock at each step (also while it still runs)
        cpu_at = {r["step"]: r["process_cpu_s"] - info["c0"] for r in log}
    else:  # older logs: wall-clock stamps scaled by the finished process's CPU time over its wall time
        cpu_at = {r["step"]: (r["time"] - info["t0"]) * info["cpu"] / info["wall"] for r in log}
    parts, _, ev = parts_data(R, M, P)
    scorer = (VideoScorer(ev, "domain", n_boot=50, seed=0) if R["model"] == "07" else
              Scorer(ev, "percep-shapes-net", n_boot=50, seed=0))
    floor = scorer.ground_truth()
    fid = lambda r: r.get(M["fid"], r.get(f"{M['fid']}[percep-shapes-net]"))
    dest = OUT / "ttq" / f"{name}.jsonl"
    dest.parent.mkdir(parents=True, exist_ok=True)
    # checkpoints scored before from this training run are kept, not scored again (a running recipe is scored
    # as its checkpoints appear)
    lines = [x for x in map(json.loads, dest.read_text().splitlines() if dest.exists() else [])
             if x["commit"] == info["commit"] and x.get("t0", info["t0"]) == info["t0"]]
    done = {(x["sampler"], x["train_step"]) for x in lines}
    score_commit = git_commit(ROOT)  # the scoring code (the ground truth, the sampler) may be newer than training's
    for spec in R["score"]:
        sampler, steps = spec.split(":")
        rows = Rows(parts, scorer, seed=0, batch_size=64, sampler=sampler)
        for step, path in list_checkpoints(work / "checkpoints"):
            if only and step not in only: continue
            if (f"{sampler} {steps}", step) in done: continue
            c0 = time.process_time()
            r = rows.add(str(step), load_checkpoint(parts, path), int(steps))
            lines.append(dict(recipe=name, model=R["model"], sampler=f"{sampler} {steps}", train_step=step,
                              images_seen=step * R["batch"],
                              cpu_minutes=round(cpu_at[step] / 60, 2),
                              **{k: r[k] for k in M["finished"]}, **{f"{k}_se": r[f"{k}_se"] for k in M["finished"]},
                              fid=fid(r), fid_se=r.get(f"{M['fid']}_se"), floor_fid=fid(floor),
                              train_loss=sum(losses[max(0, step - 100):step]) / min(100, step),
                              score_cpu_s=round(time.process_time() - c0, 1), threads=info["threads"],
                              machine=info["machine"], commit=info["commit"], t0=info["t0"],
                              score_commit=score_commit))
            print(json.dumps(lines[-1]), flush=True)
            dest.write_text("".join(json.dumps(x) + "\n" for x in lines))  # each scored checkpoint kept at once


def finished(g: pd.DataFrame, model: str) -> pd.Series:
    "Which scored checkpoints meet every threshold of the model."
    return pd.concat([g[k] >= v for k, v in MODELS[model]["finished"].items()], axis=1).all(axis=1)


def table():
    "time_to_quality.csv (one row per recipe and sampler), ttq_curves.csv (every scored checkpoint) and the figure."
    found = sorted((OUT / "ttq").glob("*.jsonl"))
    curves = pd.DataFrame([json.loads(l) for f in found if not f.stem.startswith("smoke") for l in open(f)])
    if curves.empty: raise SystemExit(f"no scored recipes in {OUT / 'ttq'}: run `score` first")
    curves["model"] = curves.get("model", pd.Series("06", index=curves.index)).fillna("06")
    # the quality axis: the model's first threshold (solid, or solid_frames for clips)
    curves["quality"] = [r[next(iter(MODELS[r["model"]]["finished"]))] for _, r in curves.iterrows()]
    rows = []
    for (recipe, sampler), g in curves.groupby(["recipe", "sampler"], sort=False):
        g = g.sort_values("train_step")
        m = g.model.iloc[0]
        hit = g[finished(g, m)]
        at = hit.iloc[0] if len(hit) else g.iloc[-1]
        width = "x".join(map(str, RECIPES[recipe]["width"]))
        crit = " and ".join(f"{k} >= {v}" for k, v in MODELS[m]["finished"].items())
        rows.append(dict(model=f"{MODELS[m]['name']} {width}", recipe=recipe, sampler=sampler, criterion=crit,
                         reached=bool(len(hit)), cpu_minutes=at.cpu_minutes, train_step=at.train_step,
                         solid=at.quality, fid=at.fid, floor_fid=at.floor_fid, best_solid=g.quality.max(),
                         **({"aligned": at.aligned} if "aligned" in at and pd.notna(at.aligned) else {}),
                         threads=at.threads, machine=at.machine, commit=at.commit))
    pd.DataFrame(rows).to_csv(OUT / "time_to_quality.csv", index=False)
    curves.drop(columns="quality").to_csv(OUT / "ttq_curves.csv", index=False)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for (recipe, sampler), g in curves.groupby(["recipe", "sampler"], sort=False):
        g = g.sort_values("cpu_minutes")
        cpu = " ".join(g.machine.iloc[0].replace("(R)", "").split()[:2])  # CPU minutes differ between machines
        label = f"{g.model.iloc[0]} {recipe}, {sampler} ({cpu})"
        ax[0].plot(g.cpu_minutes, g.quality, marker="o", label=label)
        ax[1].plot(g.cpu_minutes, g.fid, marker="o", label=label)
    for m in curves.model.unique():
        k, v = next(iter(MODELS[m]["finished"].items()))
        ax[0].axhline(v, color="k", lw=0.8, ls="--")
        ax[1].axhline(curves[curves.model == m].floor_fid.iloc[0], color="k", lw=0.8, ls=":")
    ax[0].set(xlabel="training CPU minutes", ylabel="solid (n = 192; clips: solid frames)", ylim=(0, 1))
    ax[1].set(xlabel="training CPU minutes", ylabel="FID, percep-shapes-net (dotted: real vs real)", yscale="log")
    ax[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout(); fig.savefig(OUT / "time_to_quality.png", dpi=110)
    print(pd.DataFrame(rows).to_string())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["train", "score", "table"])
    ap.add_argument("recipe", nargs="?", help="a key of RECIPES (train, score)")
    ap.add_argument("--work", default="", help="the run's folder (default: runs/time_to_quality/<recipe>)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (pinned: results depend on it)")
    ap.add_argument("--results", default=str(OUT), help="where ttq/ and the tables go (default: results/bench)")
    ap.add_argument("--steps", type=int, nargs="*", default=None, help="score: only these checkpoints' steps")
    a = ap.parse_args()
    OUT = Path(a.results)
    if a.what == "table": table()
    else:
        if not a.recipe: ap.error(f"{a.what} needs a recipe: one of {list(RECIPES)}")
        work = Path(a.work) if a.work else ROOT / "runs" / "time_to_quality" / a.recipe
        if a.what == "train": train_recipe(a.recipe, work, a.threads)
        else: score_recipe(a.recipe, work, a.threads, a.steps)
