# A Neptune 1.x script as it was written against Neptune's servers. The tests run it on the
# sample export engine/tests/neptune-export/v2-vision with one change, the import line
# (`import nql.neptune as neptune`), and unchanged after nql.compat.install().
import json
import sys

import neptune

project = neptune.init_project(project="acme/vision", mode="read-only")

# Runs that use Adam-style optimizers, their learning rate and last validation accuracy.
runs = project.fetch_runs_table(
    query='`parameters/optimizer`:string MATCHES "^adam"',
    columns=["sys/name", "parameters/optimizer", "parameters/lr", "val/accuracy"],
).to_pandas()
good = runs[runs["val/accuracy"] > 0.75].sort_values("val/accuracy", ascending=False)
best = good.iloc[0]

# The training loss of the best run, point by point.
run = neptune.init_run(with_id=best["sys/id"], project="acme/vision", mode="read-only")
loss = run["train/loss"].fetch_values()

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.plot(loss["step"], loss["value"])
    plt.title(f"{best['sys/name']}: train/loss")
    plt.savefig(sys.argv[1])
    plotted = True
except ImportError:
    plotted = False

print(json.dumps({
    "runs": sorted(runs["sys/id"]),
    "good": list(good["sys/id"]),
    "best": best["sys/id"],
    "lr": float(best["parameters/lr"]),
    "points": len(loss),
    "last_loss": float(loss["value"].iloc[-1]),
    "last_step": float(loss["step"].iloc[-1]),
    "plotted": plotted,
}))
