"""A real Neptune 1.x script (tests/scripts/neptune_script.py) on the sample export v2-vision:
with its import line changed to `import nql.neptune as neptune`, and unchanged after
`nql.compat.install()`; its answers checked against truth.json. The README shows it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NEPTUNE, REPO

SCRIPT = Path(__file__).parent / "scripts" / "neptune_script.py"
V2 = NEPTUNE / "v2-vision"


def expected() -> dict:
    truth = json.loads((V2 / "truth.json").read_text())
    runs = {}
    for run in truth["runs"]:
        a = {x["path"]: x for x in run["attributes"]}
        if a["sys/trashed"]["value"] or not a["parameters/optimizer"]["value"].startswith("adam"):
            continue
        runs[run["sys_id"]] = a
    good = sorted((r for r in runs if runs[r]["val/accuracy"]["last"] > 0.75), key=lambda r: -runs[r]["val/accuracy"]["last"])
    best = runs[good[0]]
    return {
        "runs": sorted(runs),
        "good": good,
        "best": good[0],
        "lr": best["parameters/lr"]["value"],
        "points": best["train/loss"]["count"],
        "last_loss": best["train/loss"]["last"],
        "last_step": best["train/loss"]["last_step"],
    }


def run(args: list[str], tmp_path: Path, data: Path = V2 / "data") -> dict:
    """Runs Python with `args` in a fresh process, `NQL_DATA` naming `data`; the last line of
    its output, as JSON."""
    env = dict(os.environ)
    env.update(
        NQL_DATA=str(data),
        NQL_INDEX_DIR=str(tmp_path / "index"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    env.pop("NEPTUNE_PROJECT", None)
    done = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(got: dict, plot: Path) -> None:
    want = expected()
    assert len(want["good"]) >= 3 and len(want["runs"]) > len(want["good"])
    for key in ["runs", "good", "best", "points", "last_step"]:
        assert got[key] == want[key], key
    assert got["lr"] == pytest.approx(want["lr"])
    assert got["last_loss"] == pytest.approx(want["last_loss"])
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert got["plotted"] == has_matplotlib
    if has_matplotlib:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_script_runs_with_only_its_import_line_changed(tmp_path):
    text = SCRIPT.read_text()
    changed = text.replace("\nimport neptune\n", "\nimport nql.neptune as neptune\n")
    differing = [(a, b) for a, b in zip(text.splitlines(), changed.splitlines()) if a != b]
    assert differing == [("import neptune", "import nql.neptune as neptune")]
    script = tmp_path / "script.py"
    script.write_text(changed)
    check(run([str(script), str(tmp_path / "loss.png")], tmp_path), tmp_path / "loss.png")


def test_the_unchanged_script_runs_after_compat_install(tmp_path):
    plot = tmp_path / "loss.png"
    runner = (
        "import runpy, sys\n"
        "import nql.compat\n"
        "nql.compat.install()\n"
        f"sys.argv = [{str(SCRIPT)!r}, {str(plot)!r}]\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    check(run(["-c", runner], tmp_path), plot)


def test_the_readme_shows_the_script():
    readme = (REPO / "README.md").read_text()
    text = SCRIPT.read_text().replace("\nimport neptune\n", "\nimport nql.neptune as neptune\n")
    start = text.index("\nimport nql.neptune as neptune\n") + 1
    end = text.index("loss = run[") + len(text[text.index("loss = run[") :].split("\n")[0])
    core = [line for line in text[start:end].splitlines() if line.strip()]
    at = 0
    for line in core:
        found = readme.find(line, at)
        assert found >= 0, f"the README lacks, in order: {line!r}"
        at = found + len(line)


def test_compat_install_and_uninstall():
    import nql.compat
    import nql.neptune

    before = sys.modules.get("neptune")
    nql.compat.install()
    try:
        import neptune
        from neptune.exceptions import NeptuneException
        from neptune.typing import ProgressBarCallback

        assert neptune is nql.neptune and nql.compat.installed()
        assert NeptuneException is nql.neptune.exceptions.NeptuneException
        assert ProgressBarCallback is nql.neptune.typing.ProgressBarCallback
        import neptune_query
        import neptune_query.filters
        import neptune_query.runs
        from neptune_query.exceptions import NeptuneProjectNotProvided
        from neptune_query.filters import Filter

        import nql.query

        assert neptune_query is nql.query and nql.compat.installed_query()
        assert neptune_query.runs is nql.query.runs and neptune_query.filters is nql.query.filters
        assert Filter is nql.query.filters.Filter
        assert NeptuneProjectNotProvided is nql.query.exceptions.NeptuneProjectNotProvided
    finally:
        nql.compat.uninstall()
    assert sys.modules.get("neptune") is before
    assert not nql.compat.installed() and not nql.compat.installed_query()
