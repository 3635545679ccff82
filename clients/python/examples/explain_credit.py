"""A credit model explained: exact SHAP reason codes for each declined applicant, and what drives it overall.

    ~/.venvs/modelops/bin/python clients/python/examples/explain_credit.py --model credit-explained --html declined.html

Trains an XGBoost classifier of default risk (Debian's python3-xgboost) on synthetic applicants, logs it as a JSON
model (save_model("model.json")) with its evaluation data, and registers it. Then gives the model's features readable
names, computes their global importance on the evaluation data, explains a batch of applicants and writes the HTML page
(waterfall and reason codes) of the first declined one. Prints one JSON line with what each step answered.
"""

import argparse
import csv
import io
import json
import os
import sys
import tempfile

import numpy as np
import xgboost as xgb

import modelops

FEATURES = ["income", "debt_ratio", "age", "credit_history_years", "missed_payments", "open_accounts"]
DICTIONARY = {
    "income": ("Monthly income", "gross monthly income, in thousands"),
    "debt_ratio": ("Debt-to-income ratio", "monthly debt payments over monthly income"),
    "age": ("Age", "the applicant's age in years"),
    "credit_history_years": ("Length of credit history", "years since the first credit account was opened"),
    "missed_payments": ("Missed payments", "payments missed in the last 24 months"),
    "open_accounts": ("Open accounts", "credit accounts open now"),
}


def applicants(count, seed):
    rng = np.random.default_rng(seed)
    x = np.column_stack([
        rng.lognormal(1.2, 0.4, count), rng.beta(2, 5, count), rng.integers(18, 80, count).astype(float),
        rng.gamma(2, 4, count), rng.poisson(0.6, count).astype(float), rng.integers(0, 12, count).astype(float),
    ])
    x[rng.random(x.shape) < 0.03] = np.nan  # missing values: the model takes each split's default direction
    clean = np.nan_to_num(x, nan=0.0)
    margin = -1.2 - 0.5 * clean[:, 0] + 4.0 * clean[:, 1] - 0.05 * clean[:, 3] + 0.9 * clean[:, 4] + rng.normal(0, 0.5, count)
    return x, (rng.random(count) < 1 / (1 + np.exp(-margin))).astype(int)


def table(x, ids=None):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((["id"] if ids is not None else []) + FEATURES)
    for i, row in enumerate(x):
        writer.writerow(([ids[i]] if ids is not None else []) + ["" if np.isnan(v) else repr(float(v)) for v in row])
    return out.getvalue().encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--html", required=True, help="where to write the declined applicant's page")
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()

    x, y = applicants(args.rows, seed=11)
    booster = xgb.XGBClassifier(n_estimators=150, max_depth=4, learning_rate=0.1, n_jobs=2, random_state=1)
    booster.fit(x[: args.rows * 2 // 3], y[: args.rows * 2 // 3])
    booster.get_booster().feature_names = FEATURES
    evaluation = x[args.rows * 2 // 3:]
    with tempfile.TemporaryDirectory() as directory, modelops.start_run("explained-credit", run_name="xgboost", autofill=False) as run:
        run.log_params({"n_estimators": 150, "max_depth": 4, "learning_rate": 0.1})
        booster.save_model(os.path.join(directory, "model.json"))
        run.log_artifact(os.path.join(directory, "model.json"), "model/model.json")
        with open(os.path.join(directory, "eval.csv"), "wb") as out:
            out.write(table(evaluation))
        run.log_artifact(os.path.join(directory, "eval.csv"), "eval.csv")
    run_id = run.run_id

    out = {"model": args.model, "run_id": run_id}
    with modelops.Registry() as registry, modelops.Explainability() as explain:
        version = registry.register_version(args.model, run_id, "model/model.json", risk_tier="LOW")
        explain.set_dictionary(args.model, DICTIONARY)
        described = explain.describe(args.model, version.version)
        report = explain.importance(args.model, version.version, run_id, "eval.csv")

        batch = evaluation[:50]
        ids = [f"application-{i}" for i in range(len(batch))]
        explained = explain.explain(args.model, version.version, [list(row) for row in batch], ids=ids, top_k=3)
        ours = np.array([list(row.attributions) for row in explained.rows])
        theirs = booster.get_booster().predict(xgb.DMatrix(batch, feature_names=FEATURES), pred_contribs=True)
        declined = next(row for row in explained.rows if row.decision)
        with open(args.html, "w") as page:
            page.write(explain.html(args.model, version.version, [list(batch[declined.row])], ids=[declined.id], top_k=3))
        out.update({
            "version": version.version, "format": described.format, "features": list(described.features),
            "importance_report": report.id, "weights": dict(report.weights), "top": [f.feature for f in report.features[:3]],
            "largest_difference_from_xgboost": float(np.max(np.abs(ours - theirs[:, :-1]))),
            "declined": {"id": declined.id, "prediction": declined.prediction,
                         "reasons": [[r.feature, r.display_name, r.attribution] for r in declined.reasons]},
            "declined_count": sum(1 for row in explained.rows if row.decision),
        })
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
