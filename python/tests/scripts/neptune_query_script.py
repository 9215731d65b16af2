# A neptune-query 1.x script (Neptune 3.x) as it was written against Neptune's servers. The
# tests run it on the sample export engine/tests/neptune-export/v3-llm with one change, the
# import line (`import nql.query as nq`), and unchanged after nql.compat.install().
import json
import sys

import neptune_query as nq
from neptune_query.filters import Filter

PROJECT = "acme/llm"

# Experiments trained with a learning rate of at least 0.003: their config and validation loss.
table = nq.fetch_experiments_table(
    project=PROJECT,
    experiments=Filter.ge("config/lr", 0.003),
    attributes=r"config/lr | config/optimizer | metrics/val/loss",
)
good = table[table["metrics/val/loss"] < 0.65].sort_values("metrics/val/loss")
best = good.index[0]

# The best experiment's losses, step by step (with its ancestors' points).
metrics = nq.fetch_metrics(project=PROJECT, experiments=[best], attributes=r"loss$")
loss = metrics.loc[best]["metrics/val/loss"].dropna()

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.plot(loss.index, loss.values)
    plt.title(f"{best}: metrics/val/loss")
    plt.savefig(sys.argv[1])
    plotted = True
except ImportError:
    plotted = False

print(json.dumps({
    "experiments": sorted(table.index),
    "good": list(good.index),
    "best": best,
    "lr": float(table.loc[best, "config/lr"]),
    "columns": list(metrics.columns),
    "points": len(loss),
    "first_step": float(loss.index[0]),
    "last_loss": float(loss.iloc[-1]),
    "plotted": plotted,
}))
