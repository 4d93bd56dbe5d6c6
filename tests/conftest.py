"Shared pytest helpers: experiment notebooks run through papermill exactly as a user runs them."
from pathlib import Path
import papermill as pm
import pytest

from percep_lib.exp.standin import write_standin

REPO = Path(__file__).resolve().parent.parent


def run_notebook(name: str, out_dir: Path, **params) -> Path:
    "Execute nbs/<name> with papermill, `out_dir` and `params` injected; the executed copy is out_dir/run.ipynb."
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(REPO / "nbs" / name), str(out_dir / "run.ipynb"), cwd=str(REPO), kernel_name="python3",
                        parameters=dict(out_dir=str(out_dir), **params), progress_bar=False)
    return out_dir


@pytest.fixture(scope="session")
def run_nb():
    "The notebook runner `run_notebook(name, out_dir, **params)`."
    return run_notebook


def run_notebook_on_standin(name: str, out_dir: Path, standin_dir: Path, parts: tuple, size: int, **params) -> Path:
    "`run_notebook` with the settings pointed at freshly written stand-ins of `parts` (in `standin_dir`), as a user's settings.ini would."
    env = write_standin(standin_dir, parts=parts, size=size)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items(): mp.setenv(k, v)
        return run_notebook(name, out_dir, **params)


@pytest.fixture(scope="session")
def run_nb_standin():
    "The stand-in notebook runner `run_notebook_on_standin(name, out_dir, standin_dir, parts, size, **params)`."
    return run_notebook_on_standin
