#!/usr/bin/python3
"""XGBoost's own SHAP values, the oracle of the explainability service's TreeSHAP.

Run with Debian's python3 and python3-xgboost 1.7.4 (scripts/bootstrap.sh installs it):

    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_treeshap_fixtures.py

Writes Fixtures/treeshap/<case>.json: the model exactly as save_model wrote it (a string), the rows explained (null for
a missing value), and XGBoost's predict(..., pred_contribs=True) (the last column is the bias), its margins
(output_margin=True) and predictions.
"""
import json
import os
import tempfile

import numpy as np
import xgboost as xgb

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "treeshap")


def data(rng, rows, features, missing):
    x = rng.normal(size=(rows, features))
    x[:, 0] = np.round(x[:, 0], 1)  # ties: values that land on thresholds
    if features > 3:
        x[:, 3] = 2.0  # a constant feature, never split on
    if missing:
        x[rng.random(size=x.shape) < missing] = np.nan
    return x


def case(name, rng, objective, depth, trees, features, missing, label, **params):
    x = data(rng, 1500, features, missing)
    y = label(np.nan_to_num(x))
    booster = xgb.train({"objective": objective, "max_depth": depth, "eta": 0.1, "seed": 7, "nthread": 1, **params},
                        xgb.DMatrix(x, label=y), num_boost_round=trees)
    rows = data(rng, 60, features, missing)
    rows[0, :] = np.nan  # every value missing: every default direction
    matrix = xgb.DMatrix(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.json")
        booster.save_model(path)
        with open(path) as f:
            model = f.read()
    out = {
        "name": name,
        "xgboost": xgb.__version__,
        "objective": objective,
        "model": model,
        "rows": [[None if np.isnan(v) else float(v) for v in row] for row in rows],
        "contribs": booster.predict(matrix, pred_contribs=True).astype(float).tolist(),
        "margins": booster.predict(matrix, output_margin=True).astype(float).tolist(),
        "predictions": booster.predict(matrix).astype(float).tolist(),
    }
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(out, f)


def main():
    os.makedirs(HERE, exist_ok=True)
    rng = np.random.default_rng(20261202)
    logit = lambda x: (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 4] + rng.normal(scale=0.5, size=len(x)) > 0).astype(float)
    linear = lambda x: 2 * x[:, 0] - x[:, 1] ** 2 + np.sin(x[:, 2]) + 0.1 * rng.normal(size=len(x))
    counts = lambda x: rng.poisson(np.exp(0.5 * x[:, 0] - 0.3 * x[:, 1]))
    case("binary_logistic_depth3_missing", rng, "binary:logistic", 3, 120, 8, 0.15, logit)
    case("squarederror_depth6_base", rng, "reg:squarederror", 6, 100, 6, 0.05, linear, base_score=0.7)
    case("poisson_depth4", rng, "count:poisson", 4, 40, 5, 0.0, counts)
    case("logitraw_depth2", rng, "binary:logitraw", 2, 30, 5, 0.1, logit)
    case("lossguide_leaves", rng, "reg:squarederror", 0, 25, 7, 0.1, linear, grow_policy="lossguide", max_leaves=20, tree_method="hist")
    case("stumps_constant", rng, "binary:logistic", 1, 10, 5, 0.0, logit)
    positive = lambda x: np.exp(0.3 * x[:, 0] + 0.2 * x[:, 1]) * rng.gamma(2.0, 0.5, size=len(x))
    case("reg_logistic", rng, "reg:logistic", 3, 20, 5, 0.05, logit, base_score=0.3)
    case("gamma", rng, "reg:gamma", 3, 20, 5, 0.05, positive)
    case("tweedie", rng, "reg:tweedie", 3, 20, 5, 0.05, positive)
    case("absoluteerror", rng, "reg:absoluteerror", 3, 20, 5, 0.05, linear)


if __name__ == "__main__":
    main()
