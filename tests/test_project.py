"Project-level checks: README mirrors nbs/index.ipynb and shows commands that exist; settings errors name the key."
import re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from render_readme import render


def test_readme_in_sync_with_index():
    assert (ROOT / "README.md").read_text() == render(), "README.md is stale: run python tests/render_readme.py"


def test_readme_commands_name_existing_files():
    readme = (ROOT / "README.md").read_text()
    first = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    cmds = re.findall(r"```bash\n(.*?)\n```", first, re.S)
    assert len(cmds) == 2, "README's first section shows exactly two commands: run an experiment, run the tests"
    assert "nbdev-test" in cmds[1] and "pytest" in cmds[1]
    for nb in re.findall(r"papermill (\S+\.ipynb)", "\n".join(re.findall(r"```bash\n(.*?)\n```", readme, re.S))):
        assert (ROOT / nb).is_file(), nb  # every command in README names notebooks that exist


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and "nbdev-export" in ci


def test_missing_setting_names_key_and_file(tmp_path, monkeypatch):
    from percep_lib.config import Settings, SettingMissing
    ini = tmp_path / "settings.ini"
    ini.write_text("[weights]\nsd21 =\n")
    with pytest.raises(SettingMissing, match=r"\[weights\] sd21 is not set in .*settings.ini.*PERCEP_WEIGHTS_SD21"):
        Settings(ini).path_of("weights", "sd21", expect="a diffusers folder")
    monkeypatch.setenv("PERCEP_WEIGHTS_SD21", str(tmp_path / "nowhere"))
    with pytest.raises(SettingMissing, match="nowhere does not exist"):
        Settings(ini).path_of("weights", "sd21")


def test_package_imports_after_install():
    out = subprocess.run([sys.executable, "-c", "from percep_lib.schedules import Schedule; "
                          "from percep_lib.p2 import p2_weight, min_snr_weight; print(Schedule('linear').T)"],
                         capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == "1000"


def test_readme_shows_the_committed_main_table():
    md = (ROOT / "results/05_sp_finetune/results.md").read_text()
    summary = md.split("## Summary", 1)[1].split("## Results", 1)[0]
    table = summary.split("| row | n |", 1)[1].split("\n\n", 1)[0]  # the compact table (the summary's first)
    table = "| row | n |" + table.rstrip("\n")
    assert table.startswith("| row | n |") and table.count("\n") >= 5 and " ± " in table, table
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "README must show the compact table of results/05_sp_finetune/results.md: paste it into nbs/index.ipynb"
    assert "results/05_sp_finetune/results.md" in readme, "README links the full table"
    for what in ["| profile | default |", "| metric backbone |", "| seed |", "| git commit |", "| machine |"]:
        assert what in md, what


def test_library_notebooks_are_committed_with_their_plots():
    "Read where people read them (no docs site is built), the lessons show their figures: tests/refresh_notebooks.py saves them."
    import json
    for nb in sorted(ROOT.glob("nbs/0[0-3]_*.ipynb")):
        outs = [o for c in json.loads(nb.read_text())["cells"] for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outs), f"{nb.name} has no saved plot: run python tests/refresh_notebooks.py {nb.relative_to(ROOT)}"


@pytest.mark.parametrize("nb", sorted(p.name for p in (ROOT / "nbs").glob("0[4-9]_*.ipynb")))
def test_experiment_parameters_parse_for_papermill(nb):
    "`papermill --help-notebook` lists every parameter (papermill skips a line whose comment holds '=' or a quote)."
    import json
    from papermill.translators import PythonTranslator
    cells = json.loads((ROOT / "nbs" / nb).read_text())["cells"]
    src = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    declared = [l.split(":")[0] for l in src.splitlines() if l.strip() and not l.startswith("#")]
    assert [p.name for p in PythonTranslator.inspect({"source": src})] == declared
