"""Logs a complete training run to ModelOps tracking and reads it back.

    ~/.venvs/modelops/bin/python clients/python/examples/log_a_run.py

Params, 10,000 metric points, a dataset input, full provenance and a 100 MiB artifact; then every one of them is
read back and compared. Exits 1 on any difference.
"""

import datetime
import hashlib
import math
import os
import random
import sys
import tempfile

import modelops

UTC = datetime.timezone.utc


def main():
    rng = random.Random(2026)
    snapshot = datetime.datetime(2026, 11, 1, tzinfo=UTC)
    params = {"learning_rate": "0.05", "max_depth": "6", "n_estimators": "400"}
    losses = [math.exp(-step / 2500) + rng.random() * 1e-3 for step in range(10_000)]
    dataset = dict(dataset_id="loans", hash="sha256:" + hashlib.sha256(b"loans@2026-11-01").hexdigest(), snapshot_at=snapshot,
                   feature_groups=["bureau", "payments"], time_range=(datetime.datetime(2025, 11, 1, tzinfo=UTC), snapshot),
                   source_uri="s3://lake/loans/2026-11-01", context="training")
    provenance = {
        "repo_url": "https://git.example.com/risk/credit.git", "container_digest": "sha256:" + "c" * 64,
        "sbom_ref": "s3://sbom/train-1.4.2.spdx.json", "train_image_version": "credit-train:1.4.2",
        "dataset_id": "loans", "dataset_snapshot_at": snapshot, "dataset_hash": dataset["hash"],
        "feature_groups": ["bureau", "payments"], "data_time_range": dataset["time_range"],
        "pipeline_id": "credit-train", "job_id": f"job-{rng.randrange(10**6)}", "orchestrator": "example",
        "seeds": {"numpy": 7}, "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "method": "time"},
        "egress_policy": "no-egress", "correlation_ids": {"ticket": "RISK-7"},
    }

    with tempfile.TemporaryDirectory() as directory:
        model = os.path.join(directory, "model.bin")
        with open(model, "wb") as out:
            for _ in range(100):
                out.write(rng.randbytes(1 << 20))
        with open(model, "rb") as source:
            model_sha = hashlib.sha256(source.read()).hexdigest()

        client = modelops.Client()
        with modelops.start_run("credit-scoring-example", run_name="gbm", provenance=provenance, client=client) as run:
            modelops.log_params(params)
            for step, loss in enumerate(losses):
                modelops.log_metric("loss", loss, step=step, timestamp=1_760_000_000_000 + step)
            modelops.log_input(**dataset)
            modelops.log_artifact(model, "model/model.bin")

        problems = []
        read = client.get_run(run.run_id)
        check = lambda what, expected, actual: problems.append(f"{what}: expected {expected!r}, got {actual!r}") if expected != actual else None
        check("status", "RUN_STATUS_FINISHED", modelops.client.pb.RunStatus.Name(read.status))
        check("params", params, dict(read.params))
        history = client.get_metric_history(run.run_id, "loss")
        check("metric steps", list(range(10_000)), [m.step for m in history])
        check("metric values", losses, [m.value for m in history])
        stored = read.inputs[0]
        check("dataset", (dataset["dataset_id"], dataset["hash"], dataset["feature_groups"], dataset["source_uri"], snapshot),
              (stored.dataset_id, stored.hash, list(stored.feature_groups), stored.source_uri, stored.snapshot_at.ToDatetime().replace(tzinfo=UTC)))
        report = client.get_provenance(run.run_id)
        check("provenance missing", [], list(report.missing))
        check("provenance job", provenance["job_id"], report.provenance.job_id)
        copy = os.path.join(directory, "copy.bin")
        artifact = client.download_artifact(run.run_id, "model/model.bin", copy)
        with open(copy, "rb") as source:
            check("artifact", (model_sha, 100 << 20), (hashlib.sha256(source.read()).hexdigest(), artifact.size))
        client.close()

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"run {run.run_id}: 3 params, 10000 metric points, 1 dataset input, complete provenance and a 100 MiB "
          f"artifact (sha256 {model_sha[:12]}...) read back identically; record sha256 {read.record_sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
