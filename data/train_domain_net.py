"""Train ShapesNet, the feature network of the shapes domain, and write data/domain_net/shapes32.pt and shapes32.json.

    python data/train_domain_net.py              # the shipped weights (seed 0; about three minutes on one CPU core)
    python data/train_domain_net.py --n-train 3000 --epochs 1 --out /tmp/net   # a quick check

The network (percep_lib.metrics.ShapesNet) classifies (shape, colour), position bin and size bin of
percep_lib.data.ShapesDataset renders; its 128-d features feed FID/KID/PR and its class logits IS under the
torch-fidelity name "percep-shapes-net". The JSON card records how the file was made and its held-out accuracy.
"""
import argparse, json, platform, subprocess, time
from datetime import datetime, timezone
from pathlib import Path

import torch

from percep_lib.metrics import ShapesNet, domain_net_accuracy, domain_training_set, fit_domain_net, load_domain_net

HERE = Path(__file__).resolve().parent


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=HERE, capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git history)"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=24_000, help="training images")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (one is fastest on a busy machine; results depend slightly on it)")
    p.add_argument("--n-heldout", type=int, default=3000, help="held-out images for the card's accuracy")
    p.add_argument("--out", type=Path, default=HERE / "domain_net", help="output folder")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    net = fit_domain_net(n_train=a.n_train, epochs=a.epochs, seed=a.seed)
    train_s = time.time() - t0
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "shapes32.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, path)
    net16 = load_domain_net(path)  # the card reports the accuracy of the file as shipped (float16 weights)
    acc = domain_net_accuracy(net16, domain_training_set(a.n_heldout, seed=10_000 + a.seed))
    cmd = "python data/train_domain_net.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(a).items() if k != "out" and v != p.get_default(k))
    card = {
        "name": "percep-shapes-net", "file": path.name, "architecture": "percep_lib.metrics.ShapesNet()",
        "params": sum(p.numel() for p in ShapesNet().parameters()), "file_bytes": path.stat().st_size,
        "stored_dtype": "float16 (loaded as float32)",
        "command": cmd, "seed": a.seed, "n_train": a.n_train, "epochs": a.epochs, "threads": a.threads,
        "train_data": "domain_training_set(n_train, seed): ShapesDataset renders, size_range (0.10, 0.40), 1/3 hard 32px, "
                      "1/3 anti-aliased 32px, 1/3 anti-aliased 64px resized to 32",
        "heldout": f"domain_training_set({a.n_heldout}, seed={10_000 + a.seed})",
        "heldout_accuracy": {k: round(v, 4) for k, v in acc.items()},
        "heads": {"class": "18 = 3 shapes x 6 colours (IS logits)", "pos": "4x4 grid of the centre", "size": "4 bins over 0.10-0.40",
                  "feat": "304-d: 128-d penultimate layer + spatial means of the 4 conv blocks, standardised on 6000 training images (FID/KID/PR)"},
        "train_seconds": round(train_s, 1), "torch": torch.__version__, "python": platform.python_version(),
        "git_commit": git_commit(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
