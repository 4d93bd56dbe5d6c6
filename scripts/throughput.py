"""Training throughput of the default models against this machine's peak: writes results/bench/throughput.csv,
throughput_ops.csv and throughput.png.

    python scripts/throughput.py run              # every setting, one process each (about 15 min; run nothing beside)
    python scripts/throughput.py run --smoke      # tiny models, seconds (the tests)
    python scripts/throughput.py one 06 --batch 64 --threads 1   # one setting, printed as JSON

What is timed is `percep_lib.train.loop.train` itself: the objective, backward, clipping, AdamW, EMA, the data loader
(the shapes render every image on the fly) and the metrics line. Each setting runs in a fresh process: `warm` steps,
then the same run resumed for `steps` more, timed by the process's CPU time (all its threads) and the wall clock.
`img_per_cpu_s` is images per CPU second; a 2-thread process spends two CPU seconds per wall second, so it wins only
where it more than doubles the wall-clock rate. "2 x 1 thread" runs two 1-thread processes side by side (how the long
profiles run) and reports their images over their CPU seconds together, and `img_per_s` the pair's summed rate.

FLOPs per image come from torch's FlopCounterMode over one forward + backward of the model (the optimiser and
element-wise work are not counted: it counts matrix products and convolutions). `gflops` = FLOPs per image times
images per CPU second; `peak_gflops` is one core's fp32 matrix-product rate (torch.mm, 2048 x 2048, 1 thread), and
`frac_of_peak` their ratio. `speedup` is img_per_cpu_s over the landed loop's (the experiment's default: batch and
threads of its profile), measured in the same run. throughput_ops.csv splits the CPU time of the fastest 06 setting by
operator kind (torch.profiler), which says where the time goes when it is not in matrix products.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench"
# the experiments' default models and their landed training settings (batch, threads of the profile)
MODELS = {"06": dict(name="06 UNet2DModel 16x32x32, 32 px", landed=dict(batch=16, threads=2)),
          "05": dict(name="05 UNet2DConditionModel 32x64x64, 32 px", landed=dict(batch=16, threads=2)),
          "07": dict(name="07 Latte 4x16, patch 4, 8x32x32 clips", landed=dict(batch=8, threads=2))}


def model_parts(key: str, smoke: bool):
    "(model factory, dataset, conditioner, schedule, data_key, schedule fields) of a default model."
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path: sys.path.insert(0, here)
    from time_to_quality import RECIPES, parts_data, profile  # one description of the default models
    R, M, P = profile({"06": "smoke", "05": "smoke-05", "07": "smoke-07"}[key] if smoke else
                      next(n for n, r in RECIPES.items() if r["model"] == key and not n.startswith("smoke")))
    parts, ds, _ = parts_data(R, M, dict(P, n_train=256, n_eval=8))  # the recipe's model at its default width
    return parts.new_model, ds, parts.conditioner, parts.schedule, M["data_key"], M["schedule"]


def flops_per_image(new_model, dataset, conditioner, schedule, data_key, batch=4) -> float:
    "Matrix-product and convolution FLOPs of one forward + backward, per image."
    from torch.utils.flop_counter import FlopCounterMode
    from percep_lib.core.objectives import MSEObjective
    model = new_model().train()
    rows = [dataset[i] for i in range(batch)]
    b = {k: torch.stack([r[k] for r in rows]) if torch.is_tensor(rows[0][k]) else
         torch.tensor([r[k] for r in rows]) if isinstance(rows[0][k], (int, float)) else [r[k] for r in rows]
         for k in (data_key, *([conditioner.key] if getattr(conditioner, "key", None) else []))}
    with FlopCounterMode(display=False) as fc:
        loss, _ = MSEObjective(schedule)(model, b[data_key], conditioner(b), torch.Generator().manual_seed(0))
        loss.backward()
    return fc.get_total_flops() / batch


def one(key: str, batch: int, threads: int, steps: int, warm: int, channels_last=False, mkldnn=True,
        compile_=False, workers=0, smoke=False) -> dict:
    "Train one default model for warm steps, then time `steps` more of the resumed run (this process)."
    from percep_lib.train.config import TrainConfig
    from percep_lib.train.loop import train
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = mkldnn
    new_model, ds, cond, sched, data_key, sfields = model_parts(key, smoke)
    model = new_model()
    if channels_last: model = model.to(memory_format=torch.channels_last)
    if compile_: model = torch.compile(model)
    with tempfile.TemporaryDirectory() as d:
        cfg = dict(out_dir=d, batch_size=batch, lr=1e-4, ema_decay=0.999, checkpoint_every=10 ** 9, cpu=True,
                   seed=0, num_workers=workers, data_key=data_key, log_every=10 ** 9, progress=False, **sfields)
        c0, w0 = time.process_time(), time.perf_counter()
        train(model, ds, TrainConfig(max_steps=warm, **cfg), schedule=sched, conditioner=cond)
        cw, ww = time.process_time() - c0, time.perf_counter() - w0
        c0, w0 = time.process_time(), time.perf_counter()
        train(model, ds, TrainConfig(max_steps=warm + steps, resume=True, **cfg), schedule=sched, conditioner=cond)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if workers:  # the loader's worker processes spend CPU time outside this process: count it as wall x workers
        cpu += wall * workers  # an upper bound (a worker waits part of the time)
    n = steps * batch
    return dict(images=n, cpu_s=cpu, wall_s=wall, img_per_cpu_s=n / cpu, img_per_s=n / wall, warm_wall_s=ww,
                warm_cpu_s=cw)


def data_only(key: str, batch: int, steps: int, smoke=False) -> dict:
    "Images per CPU second of the data loader alone (rendering and collating), 1 thread."
    from torch.utils.data import DataLoader
    torch.set_num_threads(1)
    _, ds, *_ = model_parts(key, smoke)
    it = iter(DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True))
    c0 = time.process_time()
    for _ in range(min(steps, len(ds) // batch)): next(it)
    n = min(steps, len(ds) // batch) * batch
    return dict(images=n, img_per_cpu_s=n / (time.process_time() - c0))


def sampling(key: str, batch: int, steps: int, smoke=False) -> dict:
    "Model evaluations (images x steps) per CPU second of DDPM ancestral sampling, and forward FLOPs per image, 1 thread."
    from torch.utils.flop_counter import FlopCounterMode
    from percep_lib.core.sample import sample
    torch.set_num_threads(1)
    new_model, ds, cond, sched, data_key, _ = model_parts(key, smoke)
    model = new_model().eval()
    shape = tuple(ds[0][data_key].shape)
    with torch.no_grad(), FlopCounterMode(display=False) as fc: model(torch.randn(2, *shape), torch.tensor([1, 2]))
    sample(model, sched, shape, batch, steps=2, sampler="ddpm", batch_size=batch, progress=False)  # warm-up
    c0 = time.process_time()
    sample(model, sched, shape, batch, steps=steps, sampler="ddpm", batch_size=batch, clip_sample=True, progress=False)
    return dict(img_per_cpu_s=batch * steps / (time.process_time() - c0), mflop_per_img=fc.get_total_flops() / 2 / 1e6)


def peaks(threads: int, smoke: bool) -> dict:
    "fp32 GFLOP/s of torch.mm (2048^2) and of a 3x3 convolution (64 -> 64 channels, 32 px, batch 32) at `threads`."
    torch.set_num_threads(threads)
    n = 256 if smoke else 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(4 if smoke else 32, 64, 32, 32)
    out = {}
    for what, fn, flops in (("mm", lambda: a @ b, 2 * n ** 3),
                            ("conv", lambda: conv(x), 2 * x.shape[0] * 64 * 64 * 9 * 32 * 32)):
        with torch.no_grad():
            for _ in range(2): fn()
            reps, w0 = 0, time.perf_counter()
            while time.perf_counter() - w0 < (0.2 if smoke else 3): fn(); reps += 1
        out[what] = flops * reps / (time.perf_counter() - w0) / 1e9
    return out


def op_split(key: str, batch: int, steps: int, smoke: bool) -> list[dict]:
    "CPU time of `steps` training steps by operator kind (torch.profiler, 1 thread)."
    from torch.profiler import ProfilerActivity, profile
    from percep_lib.core.objectives import MSEObjective
    torch.set_num_threads(1)
    new_model, ds, cond, sched, data_key, _ = model_parts(key, smoke)
    model = new_model().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x0 = torch.stack([ds[i][data_key] for i in range(batch)])
    obj = MSEObjective(sched)
    def step(i):
        loss, _ = obj(model, x0, cond({data_key: x0}), torch.Generator().manual_seed(i))
        loss.backward(); opt.step(); opt.zero_grad()
    for i in range(2): step(i)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps): step(i)
    kinds = {"matrix products and convolutions": ("conv", "mm", "addmm", "bmm", "matmul", "linear", "baddbmm",
                                                  "_scaled_dot_product", "mkldnn"),
             "normalisation": ("group_norm", "layer_norm", "native_group_norm", "native_layer_norm"),
             "optimiser": ("_foreach", "adamw", "addcdiv", "lerp")}
    totals = {}
    for e in prof.key_averages():
        if e.key.startswith("ProfilerStep") or e.key.startswith("autograd::engine"): continue
        name = e.key.lower()
        kind = next((k for k, pats in kinds.items() if any(p in name for p in pats)), "element-wise and other")
        totals[kind] = totals.get(kind, 0) + e.self_cpu_time_total
    total = sum(totals.values())
    return [dict(model=MODELS[key]["name"], batch=batch, kind=k, share=v / total) for k, v in totals.items()]


def run(smoke: bool, out: Path, models=tuple(MODELS)):
    "Every setting of each model, each in a fresh process; the tables and the figure."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from percep_lib.exp.envelope import environment, git_commit
    steps, warm = (2, 1) if smoke else (30, 5)

    def sub(*args):
        cmd = [sys.executable, __file__, "one", *map(str, args), "--steps", str(steps), "--warm", str(warm)]
        return subprocess.Popen(cmd + (["--smoke"] if smoke else []), stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})

    def done(p):
        o, _ = p.communicate(timeout=3600)
        if p.returncode: raise RuntimeError(f"{p.args} failed with code {p.returncode}")
        return json.loads(o.strip().splitlines()[-1])

    peak = {t: peaks(t, smoke) for t in (1, 2)}
    torch.set_num_threads(1)
    core_peak = peak[1]["mm"]
    rows = [dict(model="peak", setting=f"torch.{w}, {t} thread{'s' * (t > 1)}", gflops=g / t, peak_gflops=core_peak,
                 frac_of_peak=g / t / core_peak, threads=t) for t in (1, 2) for w, g in peak[t].items()]
    batches = {"06": (16, 64, 128), "05": (16, 64), "07": (8, 32)}
    for key in models:
        M = MODELS[key]
        new_model, ds, cond, sched, data_key, _ = model_parts(key, smoke)
        fpi = flops_per_image(new_model, ds, cond, sched, data_key)
        L = M["landed"]
        settings = [(f"landed: batch {L['batch']}, {L['threads']} threads", dict(batch=L["batch"], threads=L["threads"]))]
        settings += [(f"batch {b}, 1 thread", dict(batch=b, threads=1)) for b in batches[key]]
        big = batches[key][-2] if key == "06" else batches[key][-1]
        settings += [(f"batch {big}, 2 threads", dict(batch=big, threads=2))]
        if key != "07": settings += [(f"batch {big}, 1 thread, channels-last", dict(batch=big, threads=1, channels_last=1))]
        settings += [(f"batch {big}, 1 thread, mkldnn off", dict(batch=big, threads=1, mkldnn=0)),
                     (f"batch {big}, 1 thread, 1 loader worker", dict(batch=big, threads=1, workers=1))]
        if key == "06": settings += [(f"batch {big}, 1 thread, torch.compile", dict(batch=big, threads=1, compile=1))]
        res = {}
        for name, s in settings:
            flags = [key, "--batch", s["batch"], "--threads", s["threads"]] + [
                f"--{k.replace('_', '-')}" for k in ("channels_last", "compile") if s.get(k)] + (
                ["--no-mkldnn"] if s.get("mkldnn") == 0 else []) + (["--workers", "1"] if s.get("workers") else [])
            try: res[name] = done(sub(*flags))
            except Exception as e: res[name] = dict(error=str(e)[:200])
            print(M["name"], name, res[name], flush=True)
        pair = [sub(key, "--batch", big, "--threads", 1) for _ in range(2)]  # two 1-thread processes side by side
        pr = [done(p) for p in pair]
        res[f"batch {big}, 2 x 1 thread side by side"] = dict(
            images=sum(r["images"] for r in pr), img_per_cpu_s=sum(r["images"] for r in pr) / sum(r["cpu_s"] for r in pr),
            img_per_s=sum(r["img_per_s"] for r in pr))
        d = data_only(key, big, steps * 2, smoke)
        base = res[settings[0][0]].get("img_per_cpu_s")
        for name, r in res.items():
            if "error" in r: rows.append(dict(model=M["name"], setting=name, note=r["error"])); continue
            g = fpi * r["img_per_cpu_s"] / 1e9
            rows.append(dict(model=M["name"], setting=name, img_per_cpu_s=r["img_per_cpu_s"], img_per_s=r["img_per_s"],
                             gflops=g, peak_gflops=core_peak, frac_of_peak=g / core_peak,
                             speedup=r["img_per_cpu_s"] / base if base else None, mflop_per_img=fpi / 1e6))
        rows.append(dict(model=M["name"], setting=f"data loading alone, batch {big}", img_per_cpu_s=d["img_per_cpu_s"]))
        if key == "06":  # sampling: model evaluations per CPU second (images x steps), forward FLOPs only
            for b in (16, 64, 192):
                r = sampling(key, b, 2 if smoke else 20, smoke)
                g = r["mflop_per_img"] * r["img_per_cpu_s"] / 1e3
                rows.append(dict(model=M["name"], setting=f"sampling DDPM, batch {b} (evaluations per CPU s)",
                                 img_per_cpu_s=r["img_per_cpu_s"], gflops=g, peak_gflops=core_peak,
                                 frac_of_peak=g / core_peak, mflop_per_img=r["mflop_per_img"]))
    env = environment()
    meta = dict(machine=f"{env['cpu']}, {env['cpu_capability']}", cpus=os.cpu_count(), torch=torch.__version__,
                commit=git_commit(ROOT), profile="smoke" if smoke else "default", steps=steps, warm=warm)
    df = pd.DataFrame(rows).assign(**meta)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "throughput.csv", index=False)
    pd.DataFrame(op_split("06", 64, 3 if smoke else 10, smoke)).assign(**meta).to_csv(out / "throughput_ops.csv",
                                                                                    index=False)
    m = df[df.model != "peak"].dropna(subset=["speedup"])
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name, g in m.groupby("model", sort=False):
        ax[0].scatter(g.mflop_per_img, g.gflops, label=name, s=18)
        ax[1].barh([f"{name[:2]} {s}" for s in g.setting], g.speedup)
    ax[0].axhline(core_peak, color="k", ls="--", lw=0.8, label="torch.mm peak, 1 core")
    ax[0].set(xlabel="MFLOP per image (forward + backward)", ylabel="GFLOP per CPU second", yscale="log", xscale="log")
    ax[0].legend(fontsize=7)
    ax[1].axvline(1, color="k", lw=0.8); ax[1].set(xlabel="images per CPU second / the landed loop's")
    ax[1].tick_params(axis="y", labelsize=6)
    fig.tight_layout(); fig.savefig(out / "throughput.png", dpi=110)
    print(df.to_string())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["run", "one"])
    ap.add_argument("model", nargs="?", choices=list(MODELS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--no-mkldnn", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="tiny models and few steps (seconds)")
    ap.add_argument("--models", default=",".join(MODELS), help="run: which models, comma-separated")
    ap.add_argument("--results", default=str(OUT))
    a = ap.parse_args()
    if a.what == "run": run(a.smoke, Path(a.results), tuple(a.models.split(",")))
    else:
        if not a.model: ap.error("one needs a model: " + ", ".join(MODELS))
        print(json.dumps(one(a.model, a.batch, a.threads, a.steps, a.warm, a.channels_last, not a.no_mkldnn, a.compile,
                             a.workers, a.smoke)))
