"""A real neptune-query script (tests/scripts/neptune_query_script.py) on the sample Neptune 3.x
export v3-llm: with its import line changed to `import nql.query as nq`, and unchanged after
`nql.compat.install()`; its answers checked against truth.json."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import NEPTUNE, REPO
from test_script import run

SCRIPT = REPO / "python" / "tests" / "scripts" / "neptune_query_script.py"
V3 = NEPTUNE / "v3-llm"


def expected() -> dict:
    truth = json.loads((V3 / "truth.json").read_text())
    heads = {}
    for r in truth["runs"]:
        if not r["is_head"]:
            continue
        a = {x["path"]: x for x in r["attributes"]}
        if a["sys/trashed"]["value"] or a["config/lr"]["value"] < 0.003:
            continue
        loss = (r.get("lineage_aggregates") or {}).get("metrics/val/loss") or a["metrics/val/loss"]
        heads[r["experiment"]] = (a, loss)
    good = sorted((e for e in heads if heads[e][1]["last"] < 0.65), key=lambda e: heads[e][1]["last"])
    best = good[0]
    a, loss = heads[best]
    return {
        "experiments": sorted(heads),
        "good": good,
        "best": best,
        "lr": a["config/lr"]["value"],
        "columns": ["metrics/train/loss", "metrics/val/loss"],
        "points": loss["count"],
        "first_step": loss["first_step"],
        "last_loss": loss["last"],
    }


def check(got: dict, plot) -> None:
    want = expected()
    assert len(want["experiments"]) >= 2 and len(want["good"]) >= 1
    for key in ["experiments", "good", "best", "columns", "points", "first_step"]:
        assert got[key] == want[key], key
    assert got["lr"] == pytest.approx(want["lr"])
    assert got["last_loss"] == pytest.approx(want["last_loss"])
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert got["plotted"] == has_matplotlib
    if has_matplotlib:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"



def test_the_script_runs_with_only_its_import_line_changed(tmp_path):
    text = SCRIPT.read_text()
    changed = text.replace("\nimport neptune_query as nq\n", "\nimport nql.query as nq\n").replace(
        "\nfrom neptune_query.filters import Filter\n", "\nfrom nql.query.filters import Filter\n"
    )
    differing = [(a, b) for a, b in zip(text.splitlines(), changed.splitlines()) if a != b]
    assert differing == [
        ("import neptune_query as nq", "import nql.query as nq"),
        ("from neptune_query.filters import Filter", "from nql.query.filters import Filter"),
    ]
    script = tmp_path / "script.py"
    script.write_text(changed)
    check(run([str(script), str(tmp_path / "loss.png")], tmp_path, data=V3 / "data"), tmp_path / "loss.png")


def test_the_unchanged_script_runs_after_compat_install(tmp_path):
    plot = tmp_path / "loss.png"
    runner = (
        "import runpy, sys\n"
        "import nql.compat\n"
        "nql.compat.install()\n"
        f"sys.argv = [{str(SCRIPT)!r}, {str(plot)!r}]\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    check(run(["-c", runner], tmp_path, data=V3 / "data"), plot)


def test_the_readme_shows_the_script():
    readme = (REPO / "README.md").read_text()
    text = SCRIPT.read_text().replace("\nimport neptune_query as nq\n", "\nimport nql.query as nq\n")
    text = text.replace("\nfrom neptune_query.filters import Filter\n", "\nfrom nql.query.filters import Filter\n")
    start = text.index("\nimport nql.query as nq\n") + 1
    end = text.index("loss = metrics.loc[") + len(text[text.index("loss = metrics.loc[") :].split("\n")[0])
    at = 0
    for line in [line for line in text[start:end].splitlines() if line.strip()]:
        found = readme.find(line, at)
        assert found >= 0, f"the README lacks, in order: {line!r}"
        at = found + len(line)
