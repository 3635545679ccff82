"""A credit model with a bias against one sex: blocked by the fairness gate, mitigated, and promoted once fair.

    ~/.venvs/modelops/bin/python clients/python/examples/fair_credit.py --model credit-fair

Trains a logistic regression (numpy) on applicants whose recorded repayment history understates women's (the bias
built in), logs the model and its evaluation data (label, score, sex, age band), registers it and has the fairness
service evaluate it; asks for Production, which a fairness gate in the model's policy blocks. Then asks the service for
per-group thresholds (demographic parity on sex), applies them to the evaluation data, and logs, registers and
evaluates the mitigated model, which asks for Production again. Prints one JSON line with what each step answered.
"""

import argparse
import csv
import io
import json
import os
import sys
import tempfile

import numpy as np

import modelops


def applicants(count, seed):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], count, p=[0.45, 0.55])
    band = rng.choice(["18-25", "26-45", "46+", ""], count, p=[0.2, 0.5, 0.26, 0.04])
    income = rng.normal(50, 15, count)
    debt = rng.normal(20, 8, count)
    repaid = (rng.random(count) < 1 / (1 + np.exp(-(0.06 * (income - 50) - 0.1 * (debt - 20) + 0.4)))).astype(int)
    # The history the lender recorded understates women's repayments: the bias the model learns.
    history = repaid * 1.0 - np.where(sex == "F", 0.6, 0.0) + rng.normal(0, 0.5, count)
    return sex, band, np.column_stack([income, debt, history]), repaid


def train(features, labels, steps=400, rate=0.1):
    """Logistic regression by gradient descent on standardised features."""
    mean, std = features.mean(axis=0), features.std(axis=0)
    x = np.column_stack([np.ones(len(features)), (features - mean) / std])
    weights = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ weights))
        weights -= rate * x.T @ (p - labels) / len(labels)
    return {"weights": weights.tolist(), "mean": mean.tolist(), "std": std.tolist()}


def score(model, features):
    x = np.column_stack([np.ones(len(features)), (features - np.array(model["mean"])) / np.array(model["std"])])
    return 1 / (1 + np.exp(-x @ np.array(model["weights"])))


def evaluation_csv(sex, band, labels, scores, predictions=None):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sex", "age_band", "label", "score"] + (["prediction"] if predictions is not None else []))
    for i in range(len(labels)):
        writer.writerow([sex[i], band[i], int(labels[i]), f"{scores[i]:.6f}"] + ([int(predictions[i])] if predictions is not None else []))
    return out.getvalue().encode()


def log_run(name, files, params):
    with tempfile.TemporaryDirectory() as directory, modelops.start_run("fair-credit", run_name=name, autofill=False) as run:
        run.log_params(params)
        for path, content in files.items():
            local = os.path.join(directory, path.replace("/", "_"))
            with open(local, "wb") as out:
                out.write(content)
            run.log_artifact(local, path)
    return run.run_id


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()

    sex, band, features, labels = applicants(args.rows * 2, seed=7)
    model = train(features[: args.rows], labels[: args.rows])
    held_out = slice(args.rows, None)
    scores = score(model, features[held_out])
    eval_sex, eval_band, eval_labels = sex[held_out], band[held_out], labels[held_out]
    first_run = log_run("biased", {"model/model.json": json.dumps(model).encode(),
                                   "eval.csv": evaluation_csv(eval_sex, eval_band, eval_labels, scores)}, {"features": "income,debt,history"})

    out = {"model": args.model}
    with modelops.Registry() as registry, modelops.Fairness() as fairness:
        first = registry.register_version(args.model, first_run, "model/model.json", risk_tier="LOW")
        report = fairness.evaluate(args.model, first.version, first_run, "eval.csv", label="label", score="score",
                                   sensitive=["sex", "age_band"], privileged={"sex": "M"}, seed=1)
        ratio = fairness.disparity(report.groupings[0], "demographic_parity_ratio")
        request = registry.request_promotion(args.model, first.version, stage="PRODUCTION", justification="first credit model")
        out["first"] = {
            "version": first.version, "run_id": first_run, "report_id": report.id, "request_id": request.request_id,
            "state": registry.request_state(request), "dp_ratio": ratio.value, "interval": [ratio.lower, ratio.upper],
            "gates": [[g.name, registry.gate_status(g), g.reason] for g in request.gates],
        }

        # The fix: a threshold per sex, chosen for accuracy under demographic parity, applied to the same data.
        mitigation = fairness.mitigate(args.model, first.version, first_run, "eval.csv", label="label", score="score",
                                       sensitive=["sex"], constraint="demographic_parity", tolerance=0.02)
        thresholds = fairness.thresholds(mitigation)
        predictions = np.array([0 if thresholds[(s,)] is None else int(p >= thresholds[(s,)]) for s, p in zip(eval_sex, scores)])
        second_run = log_run("mitigated", {
            "model/model.json": json.dumps({**model, "thresholds": {k[0]: v for k, v in thresholds.items()}}).encode(),
            "eval.csv": evaluation_csv(eval_sex, eval_band, eval_labels, scores, predictions),
            "fairness-thresholds.json": mitigation.artifact,
        }, {"features": "income,debt,history", "mitigation": mitigation.id})
        second = registry.register_version(args.model, second_run, "model/model.json", risk_tier="LOW")
        report = fairness.evaluate(args.model, second.version, second_run, "eval.csv", label="label", prediction="prediction",
                                   sensitive=["sex", "age_band"], privileged={"sex": "M"}, seed=1)
        request = registry.request_promotion(args.model, second.version, stage="PRODUCTION", justification="thresholds per sex")
        out["mitigation"] = {
            "id": mitigation.id, "artifact_sha256": mitigation.artifact_sha256, "thresholds": {k[0]: v for k, v in thresholds.items()},
            "accuracy": [mitigation.before.accuracy, mitigation.after.accuracy],
            "disparity": [mitigation.before.disparity_value, mitigation.after.disparity_value],
        }
        out["second"] = {
            "version": second.version, "run_id": second_run, "report_id": report.id, "request_id": request.request_id,
            "state": registry.request_state(request), "dp_ratio": fairness.disparity(report.groupings[0], "demographic_parity_ratio").value,
            "gates": [[g.name, registry.gate_status(g), g.reason] for g in request.gates],
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
