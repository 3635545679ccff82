#!/usr/bin/python3
"""XGBoost's own TreeSHAP (predict(..., pred_contribs=True)), the explainability benchmark's baseline.

Usage: xgboost_baseline.py FOLDER TREES DEPTH FEATURES ROWS

Trains a binary:logistic model of TREES trees of depth DEPTH on FEATURES features (Debian's python3-xgboost 1.7.4),
writes FOLDER/model.json, the rows explained (FOLDER/rows.f64, row-major float64, about 5% missing as NaN) and
XGBoost's SHAP values for them (FOLDER/contribs.f32, ROWS x (FEATURES + 1), bias last), and prints the seconds
pred_contribs took with 1 and 2 threads (the best of 3 runs each, after a warm-up) as JSON.
"""
import json
import os
import sys
import time

import numpy as np
import xgboost as xgb

folder, trees, depth, features, rows = sys.argv[1], *map(int, sys.argv[2:6])
rng = np.random.default_rng(42)
weights = rng.normal(size=features)


def sample(n):
    x = rng.normal(size=(n, features))
    x[rng.random(size=x.shape) < 0.05] = np.nan
    return x


train = sample(20_000)
clean = np.nan_to_num(train)
label = (clean @ weights + 0.5 * clean[:, 0] * clean[:, 1] + rng.normal(size=len(train)) > 0).astype(float)
booster = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.05, "tree_method": "hist", "nthread": 2, "seed": 1},
                    xgb.DMatrix(train, label=label), num_boost_round=trees)
booster.save_model(os.path.join(folder, "model.json"))
x = sample(rows)
x.astype(np.float64).tofile(os.path.join(folder, "rows.f64"))
matrix = xgb.DMatrix(x)

seconds = {}
for threads in (1, 2):
    booster.set_param({"nthread": threads})
    booster.predict(xgb.DMatrix(x[:100]), pred_contribs=True)  # warm-up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        contribs = booster.predict(matrix, pred_contribs=True)
        best = min(best, time.perf_counter() - start)
    seconds[str(threads)] = best
contribs.astype(np.float32).tofile(os.path.join(folder, "contribs.f32"))
print(json.dumps({"xgboost": xgb.__version__, "seconds": seconds}))
