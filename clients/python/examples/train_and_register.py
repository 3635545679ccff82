"""The end of a training pipeline: log the run, register the model it produced, ask for Production.

    ~/.venvs/modelops/bin/python clients/python/examples/train_and_register.py --model credit-scoring

Logs a run with full provenance (less the fields named by --omit), metrics including per-subgroup AUCs, a model
file, a model card and a security review; registers the model file as a new version and requests its promotion.
Prints one JSON line: the model, version, run, request id, request state and each gate's result.
"""

import argparse
import datetime
import hashlib
import json
import os
import random
import sys
import tempfile

import modelops

UTC = datetime.timezone.utc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--stage", default="PRODUCTION")
    parser.add_argument("--omit", action="append", default=[], help="a provenance field to leave out (repeatable)")
    parser.add_argument("--auc", type=float, default=0.81)
    parser.add_argument("--risk-tier", default="HIGH")
    parser.add_argument("--retrain-request", help="the retraining request this run answers (alerting's RetrainRequested requestId)")
    args = parser.parse_args()

    rng = random.Random()
    snapshot = datetime.datetime(2026, 11, 1, tzinfo=UTC)
    provenance = {
        "repo_url": "https://git.example.com/risk/credit.git", "container_digest": "sha256:" + "c" * 64,
        "sbom_ref": "s3://sbom/train-1.4.2.spdx.json", "train_image_version": "credit-train:1.4.2",
        "dataset_id": "loans", "dataset_snapshot_at": snapshot, "dataset_hash": "sha256:" + hashlib.sha256(b"loans").hexdigest(),
        "feature_groups": ["bureau", "payments"], "data_time_range": (datetime.datetime(2025, 11, 1, tzinfo=UTC), snapshot),
        "pipeline_id": "credit-train", "job_id": f"job-{rng.randrange(10**6)}", "orchestrator": "example",
        "seeds": {"numpy": 7}, "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "method": "time"},
        "egress_policy": "no-egress", "correlation_ids": {"ticket": "RISK-7"}, "hardware": "example",
        "git_sha": "4f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    }
    if args.retrain_request:
        # Alerting links the run to the request it answers through this correlation id.
        provenance["correlation_ids"]["retrain_request_id"] = args.retrain_request
    for field in args.omit:
        provenance.pop(field, None)

    with tempfile.TemporaryDirectory() as directory:
        files = {
            "model/model.bin": rng.randbytes(256 << 10),
            "model_card.md": b"# Credit scoring\n\nGradient-boosted trees on bureau and payment features.\n",
            "reviews/security.json": json.dumps({"decision": "PASS", "reviewer": "appsec"}).encode(),
        }
        with modelops.start_run("credit-scoring-pipeline", run_name="gbm", provenance=provenance,
                                autofill=not args.omit) as run:
            run.log_params({"learning_rate": "0.05", "max_depth": "6"})
            run.log_metrics({"auc": args.auc, "ks": 0.42, "auc_group__age_lt_25": args.auc - 0.04, "auc_group__age_ge_25": args.auc + 0.01})
            for path, content in files.items():
                local = os.path.join(directory, path.replace("/", "_"))
                with open(local, "wb") as out:
                    out.write(content)
                run.log_artifact(local, path)

    with modelops.Registry() as registry:
        version = registry.register_version(args.model, run.run_id, "model/model.bin", risk_tier=args.risk_tier)
        request = registry.request_promotion(args.model, version.version, stage=args.stage,
                                             justification=f"auc {args.auc} on the November holdout")
        print(json.dumps({
            "model": args.model, "version": version.version, "run_id": run.run_id, "request_id": request.request_id,
            "state": registry.request_state(request),
            "gates": [[gate.name, registry.gate_status(gate), gate.reason] for gate in request.gates],
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
