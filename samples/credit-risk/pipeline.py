"""The credit-risk sample's steps: train and register, ask for Production, then serve and watch.

    python3 pipeline.py train   --model credit-risk --out OUT   # prints {"version", "run_id", ...}
    python3 pipeline.py promote --model credit-risk --version V # prints {"request_id", "state", "gates"}
    python3 pipeline.py serve   --model credit-risk --out OUT   # prints each window's drifted columns

run.sh runs them in order, with the reviewers' approvals (from the command line) between promote and serve. Every
client finds the running stack and its tokens by itself (see the README's "How clients find their stack").

The data are synthetic loan applicants drawn with a fixed seed, so nothing is downloaded: income, debt ratio, age,
length of credit history, missed payments and open accounts, and whether the applicant defaulted. The model is
Debian's XGBoost, saved as JSON (which the explainability service reads as it is).
"""

import argparse
import csv
import datetime
import hashlib
import json
import os
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb

import modelops
from modelops.provenance import detect

FEATURES = ["income", "debt_ratio", "age", "credit_history_years", "missed_payments", "open_accounts"]
UTC = datetime.timezone.utc
#: Records per drift window, and the windows the serving loop sends: three as in training, then three after a shift.
WINDOW = 500
WINDOWS = 6
SHIFT_FROM = 3


def applicants(count, seed, shifted=False):
    """count applicants and whether each defaulted. shifted: a recession, with lower incomes and heavier debts."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(1.2, 0.4, count) * (0.6 if shifted else 1.0)
    debt_ratio = np.clip(rng.beta(2, 5, count) + (0.15 if shifted else 0.0), 0, 1)
    x = np.column_stack([
        income, debt_ratio, rng.integers(18, 80, count).astype(float), rng.gamma(2, 4, count),
        rng.poisson(0.6, count).astype(float), rng.integers(0, 12, count).astype(float),
    ])
    margin = -1.2 - 0.5 * x[:, 0] + 4.0 * x[:, 1] - 0.05 * x[:, 3] + 0.9 * x[:, 4] + rng.normal(0, 0.5, count)
    return x, (rng.random(count) < 1 / (1 + np.exp(-margin))).astype(int)


def write_csv(path, x, scores, extra=None):
    """The rows' features and scores, and the columns of extra (name -> values) after them."""
    extra = extra or {}
    with open(path, "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FEATURES + ["score"] + list(extra))
        for i, (row, score) in enumerate(zip(x, scores)):
            writer.writerow([repr(float(v)) for v in row] + [repr(float(score))] + [values[i] for values in extra.values()])


def sha256_of(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def train(args):
    x, y = applicants(6000, seed=7)
    split = 4000
    booster = xgb.XGBClassifier(n_estimators=100, max_depth=4, learning_rate=0.1, n_jobs=2, random_state=1)
    booster.fit(x[:split], y[:split])
    booster.get_booster().feature_names = FEATURES
    validation, labels = x[split:], y[split:]
    scores = booster.predict_proba(validation)[:, 1]
    auc = _auc(labels, scores)

    os.makedirs(args.out, exist_ok=True)
    model_file, validation_file = os.path.join(args.out, "model.json"), os.path.join(args.out, "validation.csv")
    booster.save_model(model_file)
    write_csv(validation_file, validation, scores)
    # The evaluation data for fairness: the same rows with the outcome and the applicants' sex and age band (not
    # features of the model, recorded to check its decisions across groups).
    evaluation_file = os.path.join(args.out, "evaluation.csv")
    sex = np.random.default_rng(8).choice(["F", "M"], len(validation)).tolist()
    age_band = ["under_30" if age < 30 else "30_to_60" if age < 60 else "over_60" for age in validation[:, 2]]
    write_csv(evaluation_file, validation, scores, {"default": labels.tolist(), "sex": sex, "age_band": age_band})
    snapshot = datetime.datetime(2026, 11, 30, tzinfo=UTC)
    # What the process cannot tell about itself (git, hardware and the command line it fills in): where the training
    # data came from, how it was split, the seeds, the image it ran in.
    provenance = {
        "dataset_id": "applicants-synthetic", "dataset_snapshot_at": snapshot, "dataset_hash": "sha256:" + sha256_of(validation_file),
        "data_time_range": (datetime.datetime(2025, 12, 1, tzinfo=UTC), snapshot), "feature_groups": ["bureau", "application"],
        "seeds": {"numpy": 7, "xgboost": 1}, "split": {"train": 4000, "validation": 2000, "method": "first rows"},
        "pipeline_id": "credit-risk-sample", "job_id": f"sample-{int(time.time())}", "orchestrator": "samples/credit-risk/run.sh",
        "container_digest": "sha256:" + "0" * 64, "train_image_version": "debian-12-python3-xgboost-1.7",
        "sbom_ref": "debian:bookworm python3-xgboost", "egress_policy": "no-egress", "correlation_ids": {"ticket": "SAMPLE-1"},
    }
    # The git commit and remote are those of the checkout this file is in, wherever the sample is run from; a checkout
    # without a remote is named by its folder.
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    if "repo_url" not in detect():
        provenance["repo_url"] = "file://" + os.path.dirname(os.path.dirname(os.getcwd()))
    with modelops.start_run("credit-risk", run_name="xgboost", provenance=provenance) as run:
        run.log_params({"n_estimators": 100, "max_depth": 4, "learning_rate": 0.1})
        run.log_metrics({"auc": auc, "default_rate": float(labels.mean())})
        run.log_input("applicants-synthetic", hash="sha256:" + sha256_of(validation_file), snapshot_at=snapshot, context="validation")
        run.log_artifact(model_file, "model/model.json")
        run.log_artifact(validation_file, "validation.csv")
        run.log_artifact(evaluation_file, "evaluation.csv")

    with modelops.Registry() as registry, modelops.Drift() as drift:
        version = registry.register_version(args.model, run.run_id, "model/model.json", risk_tier="MEDIUM",
                                            description="XGBoost on synthetic applicants")
        # The drift reference: the validation split with the model's scores, in windows of WINDOW records.
        reference = drift.set_reference_from_artifact(args.model, str(version.version), run.run_id, "validation.csv",
                                                      window_records=WINDOW, prediction_column="score", task="binary")
    trained = {"model": args.model, "version": version.version, "run_id": run.run_id, "auc": round(auc, 4), "reference_rows": reference.rows}
    with open(os.path.join(args.out, "trained.json"), "w") as out:
        json.dump(trained, out)
    print(json.dumps(trained))


def promote(args):
    with modelops.Registry() as registry:
        request = registry.request_promotion(args.model, args.version, stage="PRODUCTION",
                                             justification="sample: AUC on the validation split, drift reference set")
        print(json.dumps({"request_id": request.request_id, "state": registry.request_state(request),
                          "gates": [[g.name, registry.gate_status(g), g.reason] for g in request.gates]}))


def serve(args):
    """A serving system: asks which version is in Production, loads it (checking its hash), scores traffic and reports
    each decision, then the outcomes as they become known, and reads what drift made of it."""
    with modelops.Registry() as registry:
        deployable = registry.get_deployable(args.model)
    version = str(deployable.version)
    with tempfile.TemporaryDirectory() as directory, modelops.Client() as tracking:
        local = os.path.join(directory, "model.json")
        tracking.download_artifact(deployable.run_id, "model/model.json", local)
        if sha256_of(local) != deployable.artifact_sha256.removeprefix("sha256:"):
            raise SystemExit("the model's bytes differ from the registered version's")
        booster = xgb.XGBClassifier()
        booster.load_model(local)

    outcomes = {}
    with modelops.Drift() as drift:
        for window in range(WINDOWS):
            x, y = applicants(WINDOW, seed=100 + window, shifted=window >= SHIFT_FROM)
            scores = booster.predict_proba(x)[:, 1]
            ids = [f"application-{window}-{i}" for i in range(WINDOW)]
            columns = {name: x[:, j].tolist() for j, name in enumerate(FEATURES)}
            columns["score"] = scores.tolist()
            drift.ingest(args.model, version, columns, request_ids=ids)
            outcomes.update(zip(ids, (bool(v) for v in y)))
        # Whether an applicant defaulted is known later: the labels join their decisions by request id.
        joined = drift.ingest_labels(args.model, version, outcomes)

        deadline = time.time() + 120
        while len(reports := list(drift.reports(args.model, version))) < WINDOWS and time.time() < deadline:
            time.sleep(1)
    reports.sort(key=lambda r: r.count_window)
    windows = [{"window": r.count_window, "drifted": [c.column for c in r.columns if c.drifted]} for r in reports]
    print(json.dumps({"model": args.model, "version": version, "labels_matched": joined.matched, "windows": windows}))
    if len(reports) < WINDOWS or any(w["drifted"] for w in windows[:SHIFT_FROM]) or not all(w["drifted"] for w in windows[SHIFT_FROM:]):
        raise SystemExit("the drift reports do not show the scripted shift (drift only from the fourth window)")


def _auc(labels, scores):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels.sum()
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(labels) - positives)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    for name in ("train", "promote", "serve"):
        step = steps.add_parser(name)
        step.add_argument("--model", default="credit-risk")
        step.add_argument("--out", default="credit-risk-out")
        step.add_argument("--version", type=int)
    args = parser.parse_args()
    args.out = os.path.abspath(args.out)
    {"train": train, "promote": promote, "serve": serve}[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
