"""Stage 2 of the SP experiment at several learning rates and batch sizes: does SP lower its own (held-out) loss?

    python scripts/sp_finetune/stage2_sweep.py [--stage1 data/sp_finetune/stage1_default.pt] [--threads 1]

Each setting fine-tunes the same stage-1 model with the self-perceptual objective on the same number of training
images, and is scored by the SP loss and the v-MSE on 256 held-out images with fixed draws (before, after: EMA and
raw weights), the gradient's signal share at its batch, and the trend of its logged loss. Writes
results/05_sp_finetune/stage2_sweep/ (results.md, results.csv, config.json). The default profile of
nbs/05_sp_finetune.ipynb takes its stage-2 learning rate and batch from this table.
"""
import argparse, shutil, sys, tempfile, time
from pathlib import Path
import pandas as pd
from percep_lib.build.builder import build_parts, build_data, load_model, stage_config
from percep_lib.exp.stages import finetune
from percep_lib.exp.scoring import gradient_signal, own_loss_table
from percep_lib.data.shapes import ShapesDataset
from percep_lib.exp.reports import save_results
from percep_lib.exp.envelope import pin_determinism, environment, git_commit
from percep_lib.sp_loss import frozen_copy
from percep_lib.train.config import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stage1 import profile, SCHEDULE  # the architecture of the shipped stage-1 model, read off its run files
P = dict(profile(), n_eval=8)
SP = dict(layers="mid", t2_sampler="uniform", distance="mse", formulation="sp")
# training images seen by every setting: as many as the default profile's stage 2 (10 steps of batch 256)
SAMPLES = 2560
SETTINGS = [dict(lr=3e-5, grad_accum=4), dict(lr=1e-4, grad_accum=4), dict(lr=3e-4, grad_accum=4),  # batch 64: 40 steps
            # batch 256: 10 steps, a gradient that is mostly signal
            dict(lr=1e-4, grad_accum=16), dict(lr=3e-4, grad_accum=16)]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage1", default="data/sp_finetune/stage1_default.pt")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="results")
    args = ap.parse_args()
    pin_determinism(args.threads)
    t_start = time.perf_counter()
    parts = build_parts(P, SCHEDULE, seed=0)
    train_set, _ = build_data(P, seed=0)
    heldout = ShapesDataset(256, size=32, seed=2000)
    init = load_model(parts, args.stage1)
    sp_cfg, mse_cfg = TrainConfig(objective="sp", sp_kwargs=SP, **SCHEDULE), TrainConfig(objective="mse", **SCHEDULE)
    perceptual = frozen_copy(init)
    rows, work = [], Path(tempfile.mkdtemp())
    for s in SETTINGS:
        batch = 16 * s["grad_accum"]; steps = SAMPLES // batch
        cfg = stage_config(work / f"lr{s['lr']}_b{batch}", max_steps=steps, batch_size=16, grad_accum=s["grad_accum"],
                           lr=s["lr"],
                           lr_warmup_steps=steps // 8, ema_decay=1 - 4 / steps, objective="sp", sp_kwargs=SP,
                           cpu=True, seed=0, progress=False, checkpoint_every=steps, **SCHEDULE)
        signal = gradient_signal(init, train_set, TrainConfig(batch_size=16, objective="sp", sp_kwargs=SP, **SCHEDULE),
                                 parts,
                                 perceptual, n_batches=16, multiples=(s["grad_accum"],))["signal_share"].item()
        tuned = finetune(init, train_set, cfg, parts, perceptual=perceptual)
        own = own_loss_table(init, {"SP loss": (sp_cfg, perceptual, tuned), "v-MSE": (mse_cfg, None, tuned)}, heldout,
                             parts)
        rows += [dict(lr=f"{s['lr']:g}", batch=batch, steps=steps, ema_decay=cfg.ema_decay, signal_share=signal,
                      seconds=round(tuned.seconds), **r)
                 for r in own.to_dict("records")]
        print(pd.DataFrame(rows).tail(4).to_string(), flush=True)
    shutil.rmtree(work)
    df = pd.DataFrame(rows)
    notes = (f"Every setting fine-tunes the same stage-1 model (`{args.stage1}`) with the SP objective on {SAMPLES} "
             "training images (steps x batch; micro-batch 16, warm-up steps/8, EMA decay 1 - 4/steps: 0.9 at batch "
             "64, 0.6 at batch 256 as in the default profile). `loss`: what is measured on 256 held-out shapes (seed "
             "2000) with fixed draws: the SP loss (the stage's own objective) or the v-MSE; `before` (stage 1), "
             "`after`, their paired `change` with its standard error over 16 batches, and `trend` (a change beyond 2 "
             "SE). `logged_*`: the mean logged SP loss over the first and last 20% of the run (the same draws in "
             "every setting, whence the same 'rise'). `signal_share`: estimated share of signal in one gradient at "
             "the setting's batch (`percep_lib.exp.scoring.gradient_signal`, 16 batches of 16). Run: `python "
             f"scripts/sp_finetune/stage2_sweep.py --threads {args.threads}`, "
             f"{(time.perf_counter() - t_start) / 60:.0f} min.")
    save_results("stage2_sweep", df, profile="sweep", seed=0,
                 config=dict(P, schedule=SCHEDULE, sp=SP, settings=SETTINGS, samples=SAMPLES,
                 stage1=args.stage1, commit=git_commit(Path(__file__).parent), environment=environment()),
                 backbone="none (held-out losses)", title="SP stage 2: learning rate and batch", notes=notes,
                 root=Path(args.out) / "05_sp_finetune", overwrite=True)
