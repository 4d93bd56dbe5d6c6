"""Render README.md from nbs/index.ipynb (markdown cells as they are, shown code cells as Python blocks).

    python tests/render_readme.py          # rewrite README.md
    python tests/render_readme.py --check  # exit 1 if README.md is out of date
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render(nb_path: Path = ROOT / "nbs" / "index.ipynb") -> str:
    "The README text for the notebook at `nb_path`."
    cells = json.loads(nb_path.read_text())["cells"]
    parts = []
    for c in cells:
        src = "".join(c["source"]).strip()
        if not src: continue
        if c["cell_type"] == "markdown": parts.append(src)
        elif c["cell_type"] == "code" and not any(l.strip() in ("#| hide", "#|hide") for l in src.splitlines()):
            parts.append(f"```python\n{src}\n```")
    header = "<!-- generated from nbs/index.ipynb by tests/render_readme.py: edit the notebook, not this file -->"
    return "\n\n".join([header, *parts]) + "\n"


if __name__ == "__main__":
    text, readme = render(), ROOT / "README.md"
    if "--check" in sys.argv:
        ok = readme.exists() and readme.read_text() == text
        print("README.md is in sync with nbs/index.ipynb" if ok else "README.md is out of date: run python tests/render_readme.py")
        sys.exit(0 if ok else 1)
    readme.write_text(text)
    print(f"wrote {readme}")
