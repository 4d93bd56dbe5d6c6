"""The package's layers hold: every import inside percep_lib (module level or inside a function) points to its own
layer or one below, and no chain of imports closes a cycle. The layers, bottom to top, are the README's tree."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "percep_lib"
LAYERS = [  # bottom first; a module may import from its own layer and those below
    ["config", "safe_io"],  # settings; atomic writes, folder locks, made-by markers
    ["schedules", "p2", "sp_loss", "residual"],  # the papers (nbs/00-03)
    ["core"],  # objectives, their registry, the VLB, sampling, conditioning
    ["data"],  # synthetic shapes, shipped photos, the user's files
    ["train"],  # configuration, checkpoints, the loop
    ["eval"],  # the domain network, fidelity metrics, ground truth, metric validation, LPIPS, video metrics
    ["build"],  # spec -> objects, and stages launched on several processes
    ["exp"],  # the experiment kit: envelope, store, statistics, reports, stages, scoring, stand-ins, 04/07 backends
    ["cli"],
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, root: Path = PKG) -> str:
    "percep_lib/core/sample.py -> 'core.sample' (a package's __init__ is the package itself)."
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = PKG) -> set[str]:
    "The percep_lib modules that `path` imports anywhere in its body (relative imports resolved), without the package prefix."
    mod = module_name(path, root).split(".") if path.name != "__init__.py" else module_name(path, root).split(".") + ["x"]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod[:len(mod) - node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == root.name:
                name = node.module.partition(".")[2]
            else: continue
            # `from .core import sample` imports a module too
            for a in node.names:
                cand = f"{name}.{a.name}" if name else a.name
                out.add(cand if (root / Path(*cand.split("."))).with_suffix(".py").exists() or (root / Path(*cand.split("."))).is_dir() else name)
        elif isinstance(node, ast.Import):
            out |= {a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == root.name and "." in a.name}
    return {m for m in out if m and not m.startswith("_")}


def layer(mod: str) -> int:
    top = mod.split(".")[0]
    if top not in RANK: raise KeyError(f"module {mod} is in no layer of LAYERS: place it in tests/test_layers.py")
    return RANK[top]


def graph(root: Path = PKG) -> dict[str, set[str]]:
    return {module_name(p, root): imports_of(p, root) - {module_name(p, root)} for p in sorted(root.rglob("*.py"))
            if not p.name.startswith("_") or p.name == "__init__.py"}


def violations(g: dict[str, set[str]]) -> list[str]:
    "Upward imports, then cycles (each found once, as a path)."
    bad = [f"{a} imports {b}: {b.split('.')[0]} is above {a.split('.')[0]}" for a, bs in g.items() for b in sorted(bs)
           if a and layer(b) > layer(a)]
    state, stack = {}, []
    def visit(n):
        state[n] = 1; stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1: bad.append("cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif not state.get(m): visit(m)
        stack.pop(); state[n] = 2
    for n in sorted(g):
        if not state.get(n): visit(n)
    return bad


def test_every_module_has_a_layer():
    for mod in graph():
        if mod: layer(mod)


def test_no_upward_import_and_no_cycle():
    bad = violations(graph())
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("code, expect", [
    ("from percep_lib.cli import main", "above"),  # core importing the CLI points up
    ("def f():\n    from ..exp.stats import over_seeds", "above"),  # an import inside a function counts
])
def test_the_check_sees_an_upward_import(tmp_path, code, expect):
    pkg = tmp_path / "percep_lib"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text(""); (pkg / "core" / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("def main(): pass\n"); (pkg / "exp").mkdir(); (pkg / "exp" / "stats.py").write_text("")
    (pkg / "core" / "objectives.py").write_text(code + "\n")
    assert any(expect in v for v in violations(graph(pkg)))


def test_the_check_sees_a_cycle(tmp_path):
    pkg = tmp_path / "percep_lib" / "core"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text(""); (pkg / "__init__.py").write_text("")
    (pkg / "objectives.py").write_text("def f():\n    from .vlb import HybridObjective\n")
    (pkg / "vlb.py").write_text("from .objectives import f\n")
    assert [v for v in violations(graph(pkg.parent)) if v.startswith("cycle")]
