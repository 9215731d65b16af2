#!/usr/bin/env python3
"""Writes the MLflow fixtures of engine/tests/mlflow/ with real MLflow.

    python3 -m venv /tmp/mlflow-venv
    /tmp/mlflow-venv/bin/pip install mlflow==3.17.2
    /tmp/mlflow-venv/bin/python engine/tests/mlflow/make_fixtures.py

It writes, beside this script:

- `mlflow.db`: a SQLite tracking store and model registry;
- `mlruns/`: a file store (tracking and model registry) with the same content;
- `expected.json`: what MLflow's own client API answers for each store (experiments, every
  run with its params, tags, latest metrics and full metric histories, registered models,
  model versions), for the Rust tests, which need no Python.

The stores are made in /tmp/nql-mlflow-fixtures (a fixed path, since MLflow writes absolute
artifact locations into them) and copied here. Run ids, experiment ids and generated run
names come from seeded generators, and every timestamp MLflow takes from the clock comes from
a fake clock, so running the script again gives byte-identical files (with the same MLflow
and SQLite versions). MLflow 3.17.2 is the version of spec/mlflow.md's "Making fixtures".
"""

import json
import os
import random
import shutil
import sqlite3
import sys
import uuid
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = "/tmp/nql-mlflow-fixtures"
# 2026-01-01T00:00:00Z in epoch milliseconds.
BASE = 1767225600000
MINUTE = 60_000

# MLflow's migrations write constraints and indexes in the order of Python sets, some
# hashed by string (salted per process) and some by object identity (a memory address): run
# again with a fixed salt and without address randomization (`setarch -R`), so the SQLite file
# comes out byte-identical.
if os.environ.get("NQL_FIXTURES_REEXEC") != "1":
    setarch = shutil.which("setarch")
    if setarch is None:
        sys.exit("make_fixtures.py needs setarch (util-linux) for a reproducible mlflow.db")
    # A fixed environment, working directory and script name, since they too move addresses.
    env = {
        "NQL_FIXTURES_REEXEC": "1",
        "PYTHONHASHSEED": "0",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    os.chdir(HERE)
    os.execve(setarch, [setarch, "-R", sys.executable, "make_fixtures.py"], env)

os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_TRACKING_USERNAME"] = ""
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_REGISTRY_URI", None)
warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import mlflow.store.model_registry.file_store  # noqa: E402,F401
import mlflow.store.model_registry.sqlalchemy_store  # noqa: E402,F401
import mlflow.store.tracking.file_store  # noqa: E402,F401
import mlflow.store.tracking.sqlalchemy_store  # noqa: E402,F401
import mlflow.utils.time  # noqa: E402
from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

_REAL_MILLIS = mlflow.utils.time.get_current_time_millis


_PREVIOUS_MILLIS = None


def patch_clock(seed):
    """Seeds uuid4 and random, and gives MLflow's modules a fake millisecond clock (one second
    per call) for the timestamps it takes itself (experiment and registry times)."""
    global _PREVIOUS_MILLIS
    previous = _PREVIOUS_MILLIS
    rng = random.Random(seed)
    random.seed(seed)
    now = [BASE + 400 * 24 * 60 * MINUTE]

    def uuid4():
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    def millis():
        now[0] += 1000
        return now[0]

    uuid.uuid4 = uuid4
    for name, module in list(sys.modules.items()):
        if not name.startswith("mlflow"):
            continue
        current = getattr(module, "get_current_time_millis", None)
        if current is not None and (current is _REAL_MILLIS or current is previous):
            module.get_current_time_millis = millis
    _PREVIOUS_MILLIS = millis


def metric(key, value, ts, step):
    return Metric(key=key, value=value, timestamp=ts, step=step)


def populate(client):
    """The same content in either store."""
    vision = client.create_experiment("vision", tags={"team": "cv"})
    nlp = client.create_experiment("nlp/bert")
    scratch = client.create_experiment("scratch")
    client.create_experiment("empty")
    default = "0"
    runs = {}

    def run(exp, name, offset_min, user=None, tags=None):
        tags = dict(tags or {})
        if user is not None:
            tags["mlflow.user"] = user
        r = client.create_run(exp, start_time=BASE + offset_min * MINUTE, tags=tags, run_name=name)
        runs[name or r.info.run_name] = r.info.run_id
        return r.info.run_id, BASE + offset_min * MINUTE

    # vision: one run of every status.
    rid, t0 = run(
        vision,
        "resnet-a",
        0,
        user="alice",
        tags={
            "team": "cv",
            "priority": "high",
            "data/source": "imagenet",
            "empty-tag": "",
            "mlflow.note.content": "Baseline ResNet-50.\nSecond line.",
            "mlflow.source.name": "train.py",
        },
    )
    params = {
        "lr": "0.001",
        "batch_size": "32",
        "epochs": "10",
        "opt": "adam",
        "use_amp": "True",
        "shuffle": "false",
        "seed": "-3",
        "weight decay": "1e-05",
        "dropout": "nan",
        "clip": "inf",
        "warmup": "-Infinity",
        "scheduler": "None",
        "comment": "",
        "big": "123456789012345678901234",
        "underscored": "1_000",
        "plus": "+7",
        "optimizer/betas/0": "0.9",
        "model/layers/0/units": "256",
    }
    points = []
    for step in range(60):
        ts = t0 + 1000 * (step + 1)
        points.append(metric("loss", 2.0 / (step + 1), ts, step))
        if step % 10 == 9:
            points.append(metric("val/acc", 0.5 + step / 200, ts, step))
    points.append(metric("lr", 0.001, t0 + 500, 0))
    client.log_batch(rid, metrics=points, params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(rid, "FINISHED", end_time=t0 + 5 * MINUTE)

    rid, t0 = run(vision, "resnet-b", 10, user="bob", tags={"team": "cv", "priority": "low"})
    client.log_batch(
        rid,
        params=[Param("lr", "3e-4"), Param("batch_size", "auto"), Param("epochs", "7"),
                Param("use_amp", "FALSE"), Param("dropout", "0.1")],
        metrics=[
            metric("loss", 1.5, t0 + 1000, 0),
            metric("loss", float("nan"), t0 + 2000, 1),
            metric("loss", float("inf"), t0 + 3000, 2),
            metric("loss", 0.9, t0 + 4000, 3),
            # Two points at step 3: the later timestamp is the latest value.
            metric("loss", 0.8, t0 + 5000, 3),
            metric("val/acc", float("-inf"), t0 + 5000, 3),
            metric("grad_norm", 1e308, t0 + 1000, 0),
            metric("grad_norm", -2.5e-300, t0 + 2000, 1),
        ],
    )
    client.set_terminated(rid, "FAILED", end_time=t0 + 2 * MINUTE)

    rid, t0 = run(vision, "resnet-c", 20, user="alice", tags={"team": "cv"})
    client.log_batch(rid, params=[Param("lr", "0.01"), Param("batch_size", "64")],
                     metrics=[metric("loss", 3.0 + 0.01 * i, t0 + 1000 * i, i) for i in range(300)])
    client.set_terminated(rid, "KILLED", end_time=t0 + 9 * MINUTE)

    rid, t0 = run(vision, "resnet-d", 30, user="carol")
    client.log_batch(rid, params=[Param("lr", "1e-3"), Param("batch_size", "16")],
                     metrics=[metric("loss", 1.0 - 0.1 * i, t0 + 1000 * i, i) for i in range(5)])
    # Still running: no end time; a metric logged after the last one in time but at a lower
    # step.
    client.log_metric(rid, "loss", 5.0, timestamp=t0 + 60 * MINUTE, step=1)

    rid, t0 = run(vision, "resnet-e", 40)
    client.update_run(rid, status="SCHEDULED")

    rid, t0 = run(vision, "resnet-old", -60, user="alice", tags={"stale": "yes"})
    client.log_batch(rid, params=[Param("lr", "0.1")], metrics=[metric("loss", 9.0, t0 + 1000, 0)])
    client.set_terminated(rid, "FINISHED", end_time=t0 + MINUTE)
    client.delete_run(rid)

    # nlp/bert: nested keys, duplicate points, a generated (seeded) run name.
    rid, t0 = run(
        nlp,
        "bert-base",
        100,
        user="dave",
        tags={"mlflow.note.content": "BERT fine-tuning", "dataset": "glue/sst2",
              "model/family": "bert"},
    )
    client.log_batch(
        rid,
        params=[Param("model/hidden", "768"), Param("model/layers", "12"),
                Param("optimizer/lr", "2e-05"), Param("optimizer/name", "AdamW"),
                Param("batch_size", "32.0"), Param("fp16", "true")],
        metrics=[metric("train/loss", 0.7 - 0.05 * i, t0 + 1000 * i, i * 100) for i in range(10)]
        + [metric("eval/f1", 0.81, t0 + 20_000, 900), metric("eval/f1", 0.83, t0 + 20_000, 900)],
    )
    # The same point twice (same key, step, timestamp and value), logged in two calls.
    client.log_metric(rid, "eval/acc", 0.9, timestamp=t0 + 30_000, step=1000)
    client.log_metric(rid, "eval/acc", 0.9, timestamp=t0 + 30_000, step=1000)
    client.log_metric(rid, "eval/acc", float("nan"), timestamp=t0 + 31_000, step=1001)
    client.set_terminated(rid, "FINISHED", end_time=t0 + 3 * MINUTE)

    rid, t0 = run(nlp, None, 110)
    client.log_param(rid, "note", "generated name")
    client.log_metric(rid, "score", -1.0, timestamp=t0 + 1000, step=-1)
    client.set_terminated(rid, "FINISHED", end_time=t0 + MINUTE)

    # Default experiment: a bare run.
    rid, t0 = run(default, "default-run", 200)
    client.set_terminated(rid, "FINISHED", end_time=t0 + 1000)

    # scratch: deleted with its runs.
    rid, t0 = run(scratch, "scratch-1", 300, user="erin", tags={"kind": "trial"})
    client.log_batch(rid, params=[Param("lr", "0.5")],
                     metrics=[metric("loss", 0.5, t0 + 1000, 0), metric("loss", 0.4, t0 + 2000, 1)])
    client.set_terminated(rid, "FINISHED", end_time=t0 + MINUTE)
    rid, t0 = run(scratch, "scratch-2", 310, user="erin")
    client.log_metric(rid, "loss", 0.3, timestamp=t0 + 1000, step=0)
    client.delete_experiment(scratch)

    # The model registry.
    a = runs["resnet-a"]
    b = runs["resnet-b"]
    bert = runs["bert-base"]
    client.create_registered_model(
        "resnet", tags={"task": "classification", "owner": "cv-team"},
        description="Image classifier",
    )
    art = client.get_run(a).info.artifact_uri
    client.create_model_version("resnet", f"{art}/model", run_id=a)
    client.create_model_version("resnet", f"{art}/model2", run_id=a, description="retrained")
    client.create_model_version(
        "resnet", f"{client.get_run(b).info.artifact_uri}/model", run_id=b,
        tags={"validated": "true", "reviewer": "alice"}, description="candidate",
    )
    client.create_model_version("resnet", f"{art}/model3", run_id=a)
    client.create_model_version("resnet", "s3://bucket/models/resnet", tags={"origin": "external"})
    client.transition_model_version_stage("resnet", "1", "Archived")
    client.transition_model_version_stage("resnet", "2", "Production")
    client.transition_model_version_stage("resnet", "3", "Staging")
    client.set_registered_model_alias("resnet", "champion", "2")
    client.set_registered_model_alias("resnet", "challenger", "3")
    client.set_registered_model_alias("resnet", "prod", "2")
    client.set_model_version_tag("resnet", "2", "deployed", "2026-02-01")
    client.delete_model_version("resnet", "4")

    client.create_registered_model("bert-small")
    client.create_model_version(
        "bert-small", f"{client.get_run(bert).info.artifact_uri}/model", run_id=bert
    )
    client.create_registered_model("empty-model", description="")


def fmt(value):
    """A float as Python spells it (repr round-trips; nan, inf and -inf are not JSON numbers)."""
    return repr(float(value))


def dump(client):
    experiments = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    out = {
        "experiments": sorted(
            (
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "lifecycle_stage": e.lifecycle_stage,
                }
                for e in experiments
            ),
            key=lambda e: e["name"],
        )
    }
    runs = client.search_runs(
        [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=10000
    )
    out_runs = []
    for listed in runs:
        r = client.get_run(listed.info.run_id)
        info = r.info
        history = {}
        for key in sorted(r.data.metrics):
            points = client.get_metric_history(info.run_id, key)
            history[key] = sorted([p.step, p.timestamp, fmt(p.value)] for p in points)
        out_runs.append(
            {
                "run_id": info.run_id,
                "run_name": info.run_name,
                "user_id": info.user_id,
                "status": info.status,
                "start_time": info.start_time,
                "end_time": info.end_time,
                "lifecycle_stage": info.lifecycle_stage,
                "experiment_id": info.experiment_id,
                "params": dict(sorted(r.data.params.items())),
                "tags": dict(sorted(r.data.tags.items())),
                "metrics": {k: fmt(v) for k, v in sorted(r.data.metrics.items())},
                "history": history,
            }
        )
    out["runs"] = sorted(out_runs, key=lambda r: r["run_name"])
    models = []
    for m in client.search_registered_models(max_results=1000):
        models.append(
            {
                "name": m.name,
                "creation_timestamp": m.creation_timestamp,
                "last_updated_timestamp": m.last_updated_timestamp,
                "description": m.description,
                "tags": dict(sorted(m.tags.items())),
                "aliases": {k: str(v) for k, v in sorted(m.aliases.items())},
            }
        )
    out["models"] = sorted(models, key=lambda m: m["name"])
    versions = []
    for listed in client.search_model_versions(max_results=1000):
        # get_model_version fills in the aliases, which a SQL store's search leaves empty.
        v = client.get_model_version(listed.name, listed.version)
        versions.append(
            {
                "name": v.name,
                "version": str(v.version),
                "creation_timestamp": v.creation_timestamp,
                "last_updated_timestamp": v.last_updated_timestamp,
                "description": v.description,
                "user_id": v.user_id,
                "current_stage": v.current_stage,
                "run_id": v.run_id,
                "source": v.source,
                "tags": dict(sorted(v.tags.items())),
                "aliases": sorted(v.aliases),
            }
        )
    out["model_versions"] = sorted(versions, key=lambda v: (v["name"], int(v["version"])))
    return out


def make_sqlite(directory):
    os.makedirs(directory)
    os.chdir(directory)
    db = os.path.join(directory, "mlflow.db")
    # A small page size keeps the file small: MLflow 3 creates about a hundred tables and
    # indexes, each at least one page. Everything else is MLflow's own doing.
    con = sqlite3.connect(db)
    con.execute("PRAGMA page_size = 512")
    con.execute("VACUUM")
    con.close()
    patch_clock(1)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    populate(client)
    expected = dump(client)
    # Leave no connection open (and so no journal) behind.
    for store in (client._tracking_client.store, client._get_registry_client().store):
        engine = getattr(store, "engine", None)
        if engine is not None:
            engine.dispose()
    return db, expected


def make_files(directory):
    os.makedirs(directory)
    os.chdir(directory)
    root = os.path.join(directory, "mlruns")
    patch_clock(2)
    uri = f"file://{root}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    populate(client)
    return root, dump(client)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    db, sqlite_expected = make_sqlite(os.path.join(WORK, "sqlite"))
    root, files_expected = make_files(os.path.join(WORK, "files"))
    os.chdir(HERE)
    shutil.copyfile(db, os.path.join(HERE, "mlflow.db"))
    shutil.rmtree(os.path.join(HERE, "mlruns"), ignore_errors=True)
    shutil.copytree(root, os.path.join(HERE, "mlruns"))
    expected = {
        "mlflow_version": mlflow.__version__,
        "sqlite": sqlite_expected,
        "files": files_expected,
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
