"""Train ShapesNet, the feature network of the shapes domain, validate it as an FID/KID backbone and write
data/domain_net/shapes32.pt and shapes32.json; or, with --checks, validate the shipped file and write
results/metric_checks/; or, with --video-checks, validate the clip distance built on it and write
results/metric_checks/video/.

    python scripts/train_domain_net.py              # the shipped weights (seed 0; 3 + 3 min on 1 core)
    python scripts/train_domain_net.py --checks     # validates data/domain_net/shapes32.pt; writes results/
    python scripts/train_domain_net.py --video-checks   # validates fd_clip[percep-shapes-clip] on it; writes .../video/
    python scripts/train_domain_net.py --monotonicity   # FID's response to failure ladders; writes .../monotonicity/
    python scripts/train_domain_net.py --n-train 3000 --epochs 1 --repeats 2 --out /tmp/net   # a quick check

The network (percep_lib.eval.domain_net.ShapesNet) classifies (shape, colour), position bin and size bin of
percep_lib.data.shapes.ShapesDataset renders, three quarters of them imperceptibly perturbed
(percep_lib.eval.domain_net.perturb: brightness offsets, pixel noise, slight contrast changes, of a few levels of 255).
Its 28 metric features feed FID/KID/PR and its class logits IS under the torch-fidelity name "percep-shapes-net". The
validation (percep_lib.eval.validation.validate_backbone) compares real images with real images (the floor) and with
imperceptibly and visibly changed ones at n = 96, 192 and 1000. The JSON card records how the file was made, its
held-out accuracy and the validation's summary.

The clip distance (percep_lib.eval.video.clip_descriptors / clip_fd, named "percep-shapes-clip"; not FVD) describes each
clip of percep_lib.data.shapes.MovingShapesDataset by ShapesNet's features: their mean over frames and, per feature
group, the RMS of their first and second differences in time. Its validation
(percep_lib.eval.video.validate_video_backbone) compares real clips with real clips and with imperceptibly changed ones
and with frozen, shuffled, flickering, jittered, stuttering, too fast, dimmed and blurred ones, at n = 96 and 192 clips.
"""
import argparse, json, platform, subprocess, time
from datetime import datetime, timezone
from pathlib import Path

import torch

from percep_lib.eval.domain_net import (AUGMENT, DOMAIN_NET_NAME, FIRST_WEIGHT, ShapesNet, domain_net_accuracy,
                                        domain_training_set, fit_domain_net, load_domain_net)
from percep_lib.eval.video import (CLIP_GROUPS, CLIP_STATS, VIDEO_CORRUPTIONS, VIDEO_DOMAIN_NAME, VIDEO_FAILURES,
                                   check_monotone_video, validate_video_backbone)
from percep_lib.eval.validation import (CORRUPTIONS, FAILURES, check_monotone, plot_monotone, plot_validation,
                                       validate_backbone, validated_range, validation_summary)
from percep_lib.exp.reports import save_results

HERE = Path(__file__).resolve().parent.parent / "data"  # the shipped weights live in data/, this script in scripts/
CHECKS = HERE.parent / "results" / "metric_checks"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=HERE, capture_output=True,
                               text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git history)"


def command_line(flag: str, a, keys) -> str:
    "The command that repeats this run: the flag and every option among `keys` that differs from its default."
    return f"python scripts/train_domain_net.py {flag}" + "".join(
        f" --{k.replace('_', '-')} {v if not isinstance(v, list) else ' '.join(map(str, v))}"
        for k, v in vars(a).items() if k in keys and v != a.defaults[k])


def shown(path: Path) -> str:
    "A weights path as the records show it: relative to the repository when inside it."
    return str(path.relative_to(HERE.parent)) if path.is_relative_to(HERE.parent) else str(path)


def findings(summary, distances) -> tuple:
    "(validated range of each distance monotone somewhere, the held-out ladders, the verdict's words) of a check."
    ranges = {m: validated_range(summary, m) for m in distances if summary[summary.measure == m].monotone.any()}
    bad = summary[~summary.monotone]
    held = sorted({r.ladder for r in summary.itertuples() if r.held_out})
    words = ("every measure is monotone on every ladder" if bad.empty else "not monotone: " + "; ".join(
        f"{r.measure} on {r.ladder} (Spearman {r.spearman:.2f})" for r in bad.itertuples()))
    return ranges, held, words


def validate(path: Path, a) -> tuple:
    "The validation table of the weights at `path`, and the seconds it took."
    t0 = time.time()
    df = validate_backbone(ns=a.ns, repeats=a.repeats, weights=str(path), seed=a.check_seed, threads=a.threads)
    return df, time.time() - t0


def write_checks(path: Path, a):
    "Validate the weights at `path`; write results/metric_checks/ (results.csv, .md, config.json, fid_ratio.png)."
    df, secs = validate(path, a)
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    cmd = command_line("--checks", a, ("ns", "repeats", "check_seed", "threads"))
    summary = validation_summary(df)
    config = dict(command=cmd,
                  weights=shown(path),
                  weights_card={k: card.get(k) for k in ("command", "seed", "augment", "first_weight",
                                                         "heldout_accuracy", "git_commit")},
                  ns=a.ns, repeats=a.repeats, seed=a.check_seed, threads=a.threads, image_size=32,
                  data="ShapesDataset(n, size=32, seed=s) reference, ShapesDataset(n, size=32, seed=s + 1) test set, "
                       "s = seed + 1000 k + 2 r for the k-th n and the r-th draw",
                  changes={name: kind for name, (kind, _) in CORRUPTIONS.items()},
                  criterion="imperceptible: FID <= 2x the real-vs-real floor; visible: FID >= 3x the floor and above "
                            "every imperceptible change",
                  seconds=round(secs, 1), torch=torch.__version__, python=platform.python_version())
    notes = f"""**Verdict.** {summary}

Made by `{cmd}` in {secs / 60:.1f} min on {a.threads} torch thread(s).
Each row compares a reference set of `n` real images (`ShapesDataset`, 32 px, hard edges) with a second,
independent set of `n` real images, as it is (`real vs real (floor)`) or changed (`change`); `fid` and `kid` are the
means over {a.repeats} independent draws of both sets, `fid_se` and `kid_se` their standard errors (spread / \
sqrt({a.repeats})),
`fid_ratio` = `fid` / the floor's `fid` at that n, and `ok` the criterion: an imperceptible change must stay within
2x the floor, a visible one must reach 3x the floor and score above every imperceptible change. KID uses the whole
sets (n <= 1000). The changes are `percep_lib.eval.validation.CORRUPTIONS`; the backbone is `{DOMAIN_NET_NAME}` \
as trained
by `{card.get('command', 'python scripts/train_domain_net.py')}` (card: `data/domain_net/shapes32.json`).

**Limits.** Drawing half the shapes as squares changes the class of a third of the images, drawing half of them red
the colour of 5/12; at n = 96 (and 192 for the squares) that is close to the counting noise of the class mix. Features
that were nothing but ideal one-hot labels would give, in a simulation of the same changes, 2.2x (n = 96) and 3.1x
(n = 192) the floor for half squares and 3.0x and 5.1x for half red with 18 (shape, colour) classes, or 3.4x, 6.1x,
4.6x and 8.2x with separate shape and colour labels; the 28 features here carry position, size and contrast besides,
so these two milder class-mix rows stay below 3x there. An unconditional FID of that many samples cannot be relied on
to flag a class imbalance of that size: per-sample class errors are what the ground-truth metrics (`aligned`,
`shape_acc`, `color_acc`, with binomial standard errors) measure."""
    out = save_results("metric_checks", df, profile="default", backbone=f"{DOMAIN_NET_NAME} ({path.name})",
                       seed=a.check_seed,
                       config=config, figures={"fid_ratio": plot_validation(df)},
                       title="Validation of the FID/KID backbone on the shapes domain",
                       notes=notes, root=CHECKS.parent, overwrite=True)
    print(df.round(4).to_string(), "\n", summary, "\nwritten to", out)


def write_video_checks(path: Path, a):
    "Validate the clip distance on the ShapesNet weights at `path`; write results/metric_checks/video/."
    t0 = time.time()
    df = validate_video_backbone(ns=a.video_ns, repeats=a.repeats, frames=a.frames, size=32, seed=a.check_seed,
                                 weights=str(path),
                                 threads=a.threads)
    secs = time.time() - t0
    cmd = command_line("--video-checks", a, ("video_ns", "repeats", "frames", "check_seed", "threads"))
    summary = validation_summary(df)
    key = f"fd_clip[{VIDEO_DOMAIN_NAME}]"
    config = dict(command=cmd,
                  weights=shown(path),
                  metric=key,
                  descriptor="percep_lib.eval.video.clip_descriptors: ShapesNet feat (28) per frame; per clip their "
                             "mean over frames (28) and, per feature group, the RMS over time of first (3) and "
                             "second (3) differences, centred and scaled by CLIP_STATS",
                  clip_groups={k: [g.start, g.stop] for k, g in CLIP_GROUPS.items()}, clip_stats=CLIP_STATS,
                  ns=a.video_ns, repeats=a.repeats, frames=a.frames, size=32, seed=a.check_seed, threads=a.threads,
                  data=f"MovingShapesDataset(n, frames={a.frames}, size=32, seed=s) reference, "
                       f"MovingShapesDataset(n, frames={a.frames}, size=32, seed=s + 1) test set, "
                       "s = seed + 1000 k + 2 r for the k-th n and the r-th draw",
                  changes={name: kind for name, (kind, _) in VIDEO_CORRUPTIONS.items()},
                  criterion="imperceptible: FD <= 2x the real-vs-real floor; visible: FD >= 3x the floor and above "
                            "every imperceptible change",
                  seconds=round(secs, 1), torch=torch.__version__, python=platform.python_version())
    notes = f"""**Verdict.** {summary}

Made by `{cmd}` in {secs / 60:.1f} min on {a.threads} torch thread(s).
The metric is `{key}`: the Fréchet distance between clip descriptors (`percep_lib.eval.video.clip_descriptors`):
ShapesNet's 28 features (`{DOMAIN_NET_NAME}`, `{path.name}`) in every frame; per clip their mean over the frames
(appearance, 28 numbers) and, for each of three feature groups (class probabilities, position and size, first-layer
contrasts), the RMS over time of their first differences (speed, 3 numbers) and second differences (smoothness,
3 numbers), centred and scaled by `CLIP_STATS` so that on real clips each temporal part varies as much in total as
the appearance part. **It is not FVD** (no I3D): it knows this domain only.
Each row compares a reference set of `n` real clips (`MovingShapesDataset`, {a.frames} frames of 32 px, hard edges)
with a second, independent set of `n` real clips, as it is (`real vs real (floor)`) or changed (`change`); `fd` and
`kid` (the polynomial-kernel MMD² of the same descriptors) are the means over {a.repeats} independent draws of both
sets, `fd_se` and `kid_se` their standard errors (spread / sqrt({a.repeats})), `fd_ratio` = `fd` / the floor's `fd` at
that n, and `ok` the criterion of the image check: an imperceptible change must stay within 2x the floor, a visible
one must reach 3x the floor and score above every imperceptible change. The changes are
`percep_lib.eval.video.VIDEO_CORRUPTIONS`: uniform ±3/255 (the same on every frame), noise of sd 2/255 (new in every
frame); frozen (first frame held), frame order shuffled (per clip), flicker (every other frame at 85%), jitter (each
frame moved by a random whole-pixel offset of up to ±2 px, edges replicated), stutter (every 2nd frame held twice),
too fast (the same clips rendered again at 3x the speed), dimmed to 80%, blurred (sigma 0.7 px).

**Limits.** Checked at n = {', '.join(map(str, a.video_ns))} clips of {a.frames} frames at 32 px only (the scale in
`CLIP_STATS` was fitted on 8-frame clips; longer clips get slightly different weights, still a fixed metric). The
first design, all 28 features in each temporal part (3 x 28 = 84 numbers), failed this check at n = 96 (shuffled,
stutter, too fast and jitter all below 3x the floor, even with each temporal part scaled to the appearance part's
variance): the notebook `nbs/toolkit/metrics.ipynb` compares the designs. Frame FID on the same frames cannot see a
shuffled frame order at all (the same frames, the same distance)."""
    out = save_results("video", df, profile="default",
                       backbone=f"{VIDEO_DOMAIN_NAME}: clip descriptors on {DOMAIN_NET_NAME} ({path.name}); not FVD",
                       seed=a.check_seed, config=config, figures={"fd_ratio": plot_validation(df)},
                       title=f"Validation of the clip Fréchet distance ({VIDEO_DOMAIN_NAME}) on moving shapes",
                       notes=notes, root=CHECKS, overwrite=True)
    print(df.round(4).to_string(), "\n", summary, f"\n{secs:.0f} s; written to", out)


def x0_ladder(n: int, seed: int, ts=(100, 300, 500, 700, 900)) -> dict:
    "A model's own failure: the shipped SP stage-1 model's x0-predictions of n real test images at several t."
    from percep_lib.build.builder import CAPTION_UNET, build_parts, load_model
    from percep_lib.data.shapes import ShapesDataset
    from percep_lib.data.files import stack_samples
    from percep_lib.schedules import add_noise, predict, x0_eps
    P = dict(source="tiny", latents="pixels", resolution=32, text_dim=32, unet=CAPTION_UNET, n_train=16, n_eval=16)
    parts = build_parts(P, dict(schedule="scaled_linear", zero_terminal_snr=True, prediction_type="v_prediction"))
    model = load_model(parts, HERE / "sp_finetune" / "stage1_default.pt")
    ds = ShapesDataset(n, size=32, seed=seed + 1)  # check_monotone's first test set
    x0 = stack_samples(ds)
    cond = parts.conditioner.encode([ds[i]["caption"] for i in range(n)])
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    out = {}
    with torch.no_grad():
        for t in ts:
            tt = torch.full((n,), t)
            x_t = add_noise(parts.schedule, x0, eps, tt)
            out[float(t)] = x0_eps(parts.schedule, predict(model, x_t, tt, cond), x_t, tt)[0].clamp(-1, 1)
    return {"stage-1 x0-prediction at t": (False, out)}


def write_monotonicity(path: Path, a):
    "FID/KID and the ground truth over failure ladders; write results/metric_checks/monotonicity/."
    t0 = time.time()
    levels, summary = check_monotone(n=a.mono_n, repeats=a.mono_repeats, extra=x0_ladder(a.mono_n, a.check_seed),
                                     weights=str(path), seed=a.check_seed, threads=a.threads)
    secs = time.time() - t0
    cmd = command_line("--monotonicity", a, ("mono_n", "mono_repeats", "check_seed", "threads"))
    ranges, held, words = findings(summary, ("fid", "kid"))
    config = dict(command=cmd, weights=shown(path), n=a.mono_n, repeats=a.mono_repeats, seed=a.check_seed,
                  threads=a.threads,
                  ladders={k: dict(held_out=h, levels=list(v)) for k, (h, v, _) in FAILURES.items()},
                  model_ladder="data/sp_finetune/stage1_default.pt: x0-predictions (v-prediction, caption-"
                               "conditional) of the first test set's images at t = 100, 300, 500, 700, 900; one draw",
                  criterion="distances: Spearman >= 0.9 over (real, level 1, ..., level 5); ground-truth rates: fall "
                            "and never rise by more than 0.05 from one level to the next",
                  validated_range={k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in ranges.items()},
                  held_out=held, seconds=round(secs, 1), torch=torch.__version__, python=platform.python_version())
    notes = f"""**Verdict.** {words}. Validated ranges (the floor up to the largest value on a monotone ladder):
{"; ".join(f"`{k}` {lo:.3g} to {hi:.3g}" for k, (lo, hi) in ranges.items())} at n = {a.mono_n}.

Made by `{cmd}` in {secs / 60:.1f} min on {a.threads} torch thread(s). Each level compares {a.mono_n} real reference
images with {a.mono_n} test images carrying the failure (`percep_lib.eval.validation.FAILURES`), mean over
{a.mono_repeats} draws (the model ladder: one draw); `solid` and `outline_iou` are the ground truth of the same test
images. `spearman` is the rank correlation of each measure with the severity, over the real set (severity 0) and the
five levels. Held out from every design choice (criterion, levels, backbone): {", ".join(held)}. Per-level values:
`levels.csv`."""
    out = save_results("monotonicity", summary, profile="default", backbone=f"{DOMAIN_NET_NAME} ({path.name})",
                       seed=a.check_seed, config=config, figures={"monotonicity": plot_monotone(levels, summary)},
                       title="Does FID on the shapes net grow with each failure the models make?", notes=notes,
                       root=CHECKS, overwrite=True)
    levels.to_csv(out / "levels.csv", index=False)
    print(summary.round(3).to_string(), "\n", words, f"\n{secs:.0f} s; written to", out)
    write_video_monotonicity(path, a, cmd)


def write_video_monotonicity(path: Path, a, cmd: str):
    "fd_clip, frame FID and solid_frames over the clip failure ladders; write metric_checks/video/monotonicity/."
    t0 = time.time()
    levels, summary = check_monotone_video(n=a.video_ns[0], repeats=a.mono_repeats, frames=a.frames,
                                           seed=a.check_seed, weights=str(path), threads=a.threads)
    secs = time.time() - t0
    ranges, held, words = findings(summary, ("fd_clip", "frame_fid"))
    config = dict(command=cmd, weights=shown(path), n=a.video_ns[0], frames=a.frames, repeats=a.mono_repeats,
                  seed=a.check_seed,
                  threads=a.threads, ladders={k: dict(held_out=h, levels=list(v)) for k, (h, v, _) in
                                              VIDEO_FAILURES.items()},
                  criterion="distances: Spearman >= 0.9 over (real, level 1, ..., level 5); solid_frames: falls and "
                            "never rises by more than 0.05 from one level to the next",
                  validated_range={k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in ranges.items()},
                  held_out=held, seconds=round(secs, 1), torch=torch.__version__, python=platform.python_version())
    notes = f"""**Verdict.** {words}. Validated ranges (the floor up to the largest value on a monotone ladder):
{"; ".join(f"`{k}` {lo:.3g} to {hi:.3g}" for k, (lo, hi) in ranges.items())} at n = {a.video_ns[0]} clips of {a.frames}
frames.

Made by `{cmd}` (the clip part: {secs / 60:.1f} min on {a.threads} torch thread(s)). Each level compares
{a.video_ns[0]} real reference clips (`MovingShapesDataset`) with {a.video_ns[0]} test clips carrying the failure
(`percep_lib.eval.video.VIDEO_FAILURES`), mean over {a.mono_repeats} draws: `fd_clip` (`{VIDEO_DOMAIN_NAME}`, not
FVD), frame FID (`{DOMAIN_NET_NAME}` on every frame) and the ground truth `solid_frames`. Held out from every design
choice: {", ".join(held)}. Per-level values: `levels.csv`."""
    out = save_results("monotonicity", summary, profile="default",
                       backbone=f"{VIDEO_DOMAIN_NAME} and {DOMAIN_NET_NAME} frames ({path.name}); not FVD",
                       seed=a.check_seed, config=config,
                       figures={"monotonicity": plot_monotone(levels, summary, "fd_clip", "solid_frames")},
                       title="Does the clip distance grow with each failure the video models make?", notes=notes,
                       root=CHECKS / "video", overwrite=True)
    levels.to_csv(out / "levels.csv", index=False)
    print(summary.round(3).to_string(), "\n", words, f"\n{secs:.0f} s; written to", out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=24_000, help="training images")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (one is fastest on a busy machine; results depend slightly on it)")
    p.add_argument("--n-heldout", type=int, default=3000, help="held-out images for the card's accuracy")
    p.add_argument("--ns", type=int, nargs="+", default=[96, 192, 1000], help="sample sizes of the validation")
    p.add_argument("--repeats", type=int, default=5, help="independent draws per sample size in the validation")
    p.add_argument("--check-seed", type=int, default=0, help="first dataset seed of the validation")
    p.add_argument("--checks", action="store_true",
                   help="no training: validate the weights in --out and write results/metric_checks/")
    p.add_argument("--video-checks", action="store_true",
                   help="no training: validate the clip distance on the weights in --out and write "
                        "results/metric_checks/video/")
    p.add_argument("--video-ns", type=int, nargs="+", default=[96, 192],
                   help="sample sizes (clips) of the video validation")
    p.add_argument("--frames", type=int, default=8, help="frames per clip in the video validation")
    p.add_argument("--monotonicity", action="store_true",
                   help="no training: FID/KID over failure ladders on the weights in --out; writes "
                        "results/metric_checks/monotonicity/")
    p.add_argument("--mono-n", type=int, default=192, help="images per set in the monotonicity check")
    p.add_argument("--mono-repeats", type=int, default=3, help="draws per level in the monotonicity check")
    p.add_argument("--out", type=Path, default=HERE / "domain_net", help="output folder")
    a = p.parse_args()
    a.defaults = {k: p.get_default(k) for k in vars(a)}
    torch.set_num_threads(a.threads)
    path = a.out / "shapes32.pt"
    if a.checks: return write_checks(path, a)
    if a.video_checks: return write_video_checks(path, a)
    if a.monotonicity: return write_monotonicity(path, a)
    t0 = time.time()
    net = fit_domain_net(n_train=a.n_train, epochs=a.epochs, seed=a.seed)
    train_s = time.time() - t0
    a.out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, path)
    # the card reports the accuracy and validation of the file as shipped (float16 weights)
    net16 = load_domain_net(path)
    acc = domain_net_accuracy(net16, domain_training_set(a.n_heldout, seed=10_000 + a.seed))
    df, val_s = validate(path, a)
    val = {"function": f"validate_backbone(ns={tuple(a.ns)}, repeats={a.repeats}, seed={a.check_seed})",
           "floor_fid": {str(r.n): round(r.fid, 4) for r in df[df.kind == "floor"].itertuples()},
           "fid_over_floor": {c: {str(r.n): round(r.fid_ratio, 2) for r in g.itertuples()}
                              for c, g in df[df.kind != "floor"].groupby("change", sort=False)},
           "summary": validation_summary(df), "seconds": round(val_s, 1),
           "full_table": "python scripts/train_domain_net.py --checks -> results/metric_checks/"}
    keys = ("n_train", "epochs", "seed", "threads", "n_heldout")
    cmd = "python scripts/train_domain_net.py" + "".join(f" --{k.replace('_', '-')} {getattr(a, k)}"
                                                         for k in keys if getattr(a, k) != a.defaults[k])
    card = {
        "name": DOMAIN_NET_NAME, "file": path.name, "architecture": "percep_lib.eval.domain_net.ShapesNet()",
        "params": sum(p.numel() for p in ShapesNet().parameters()), "file_bytes": path.stat().st_size,
        "stored_dtype": "float16 (loaded as float32)",
        "command": cmd, "seed": a.seed, "n_train": a.n_train, "epochs": a.epochs, "threads": a.threads,
        "train_data": "domain_training_set(n_train, seed): ShapesDataset renders, size_range (0.10, 0.40), 1/3 hard "
                      "32px, 1/3 anti-aliased 32px, 1/3 anti-aliased 64px resized to 32",
        "augment": {"function": "percep_lib.eval.domain_net.perturb, on 3/4 of every batch (p_augment 0.75)",
                    "offset": f"U(-{AUGMENT['offset'] * 255:g}, {AUGMENT['offset'] * 255:g}) / 255, per image",
                    "noise": f"Gaussian, sd U(0, {AUGMENT['noise'] * 255:g}) / 255, per image",
                    "contrast": f"factor U({1 - AUGMENT['contrast']:g}, {1 + AUGMENT['contrast']:g}), per image",
                    "then": "clipped to [0, 1] and quantised to 8 bits"},
        "first_weight": FIRST_WEIGHT,
        "heldout": f"domain_training_set({a.n_heldout}, seed={10_000 + a.seed})",
        "heldout_accuracy": {k: round(v, 4) for k, v in acc.items()},
        "heads": {"class": "18 = 3 shapes x 6 colours (IS logits)", "pos": "4x4 grid of the centre",
                  "size": "4 bins over 0.10-0.40",
                  "feat": "28-d (FID/KID/PR): shape (3) and colour (6) probabilities, expected centre x, y and size "
                          "(3), and the 16 first-layer filters' contrasts (max - min response before the ReLU) minus "
                          "those expected for the recognised colour; centred on 6000 training images and scaled by "
                          "their spread over those images and perturbed copies (residuals / first_weight)"},
        "validation": val,
        "train_seconds": round(train_s, 1), "torch": torch.__version__, "python": platform.python_version(),
        "git_commit": git_commit(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
