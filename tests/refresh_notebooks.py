"""Run the library notebooks and save them with their outputs, so their plots and tables show wherever they are read.

    python tests/refresh_notebooks.py                      # every library notebook: nbs/0[0-3]*, config, cli
                                                           # and the layer folders nbs/{core,data,train,eval,build,exp}/
    python tests/refresh_notebooks.py nbs/01_p2.ipynb ...  # only these

Run it after changing a library notebook (before committing it). Cells flagged like nbdev-test's skipped ones
(`#| notest`, `#| slow`, `#| gpu`, from pyproject.toml's tst_flags) are not run and keep no output; the experiment
notebooks (05, ...) are not touched, since papermill runs them and their outputs go to results/. Each notebook runs in
a fresh kernel in its own folder, with torch on 1 thread; then `nbdev-clean` strips
the metadata, so `nbdev-clean` in CI leaves the committed files as they are.
"""
import re, subprocess, sys, time, tomllib
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
FLAGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["nbdev"]["tst_flags"]
SKIP = re.compile(r"^\s*#\|\s*(" + "|".join(map(re.escape, FLAGS)) + r")\b", re.M)
SETUP = "import torch; torch.set_num_threads(1)"


LAYERS = ("core", "data", "train", "eval", "build", "exp")  # the folders of tests/test_layers.py, bottom first


def library_notebooks() -> list[Path]:
    top = [ROOT / "nbs" / f"{n}.ipynb" for n in ("config", "cli")]  # main.ipynb only calls cli.main
    return (sorted(ROOT.glob("nbs/0[0-3]_*.ipynb")) + [p for p in top if p.is_file()]
            + [p for d in LAYERS for p in sorted(ROOT.glob(f"nbs/{d}/*.ipynb"))])


def refresh(path: Path) -> float:
    "Execute `path` in place (flagged cells skipped, left without output); return the seconds it took."
    t0 = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))  # run first, not saved
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code": continue
            if SKIP.search(cell.source): cell.outputs = []; cell.execution_count = None; continue
            client.execute_cell(cell, i)
    nb.cells.pop(0)
    nbformat.write(nb, path)
    return time.perf_counter() - t0


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]] or library_notebooks()
    for p in paths:
        print(f"{p.relative_to(ROOT)}: {refresh(p):.0f} s", flush=True)
    subprocess.run(["nbdev-clean"], cwd=ROOT, check=True)
