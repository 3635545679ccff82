"""Per-group metrics and disparities computed with scikit-learn (Debian's python3-sklearn 1.2) and the published formulas:
the oracle of the fairness service's analysis (tests/ModelOps.Unit.Tests/FairnessTests.cs).

    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_fairness_fixtures.py > tests/ModelOps.Unit.Tests/Fixtures/fairness.json

Each case holds its rows, so both sides read the same values. Groups: every non-empty combination of the sensitive
columns, a missing value (None) a group of its own, ordered by their values (ordinal, missing last). Per group the
confusion matrix is sklearn's; the rates follow from it, None when the denominator is 0. The disparities follow
Fairlearn's definitions (between groups, worst case: max − min, min / max) and AIF360's (unprivileged against
privileged, the group furthest from parity), over the groups of at least min_group_size rows whose rate is defined; the
privileged group is the named one, else the group with the highest selection rate (the first on a tie).

The bootstrap of one case is a plain row bootstrap (numpy draws row indices with replacement), 4000 resamples: its
percentile interval is what the service's multinomial bootstrap must approach.
"""

import itertools
import json
import sys

import numpy as np
from sklearn.metrics import confusion_matrix, mean_absolute_error, mean_squared_error

DISPARITIES = [
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "equalized_odds_ratio",
    "equal_opportunity_difference", "equal_opportunity_ratio", "disparate_impact", "statistical_parity_difference",
    "average_odds_difference", "predictive_parity_difference",
]


def rate(num, den):
    return None if den == 0 else num / den


def rates(y, yhat):
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, yhat, labels=[0, 1]).ravel())
    n = tn + fp + fn + tp
    return {
        "count": n, "tn": tn, "fp": fp, "fn": fn, "tp": tp,
        "selection_rate": rate(tp + fp, n), "base_rate": rate(tp + fn, n), "tpr": rate(tp, tp + fn),
        "fpr": rate(fp, fp + tn), "fnr": rate(fn, tp + fn), "tnr": rate(tn, fp + tn), "precision": rate(tp, tp + fp),
        "npv": rate(tn, tn + fn), "accuracy": rate(tp + tn, n),
    }


def spread(groups, key):
    values = [g[key] for g in groups if g["judged"] and g[key] is not None]
    if len(values) < 2:
        return None, None
    diff = max(values) - min(values)
    ratio = None if max(values) == 0 else min(values) / max(values)
    return diff, ratio


def worst(a, b, larger):
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b) if larger else min(a, b)


def disparities(groups, named):
    judged = [i for i, g in enumerate(groups) if g["judged"]]
    if named is not None and groups[named]["judged"]:
        p = named
    else:
        candidates = [i for i in judged if groups[i]["selection_rate"] is not None]
        p = None
        for i in candidates:
            if p is None or groups[i]["selection_rate"] > groups[p]["selection_rate"]:
                p = i
    sr_d, sr_r = spread(groups, "selection_rate")
    tpr_d, tpr_r = spread(groups, "tpr")
    fpr_d, fpr_r = spread(groups, "fpr")
    out = {
        "demographic_parity_difference": sr_d, "demographic_parity_ratio": sr_r,
        "equalized_odds_difference": worst(tpr_d, fpr_d, True), "equalized_odds_ratio": worst(tpr_r, fpr_r, False),
        "equal_opportunity_difference": tpr_d, "equal_opportunity_ratio": tpr_r,
    }

    def against(measure):
        if p is None or measure(groups[p]) is None:
            return None
        best = None
        for i in judged:
            if i == p or measure(groups[i]) is None:
                continue
            d = measure(groups[i]) - measure(groups[p])
            if best is None or abs(d) > abs(best):
                best = d
        return best

    di = None
    if p is not None and groups[p]["selection_rate"]:
        ratios = [groups[i]["selection_rate"] / groups[p]["selection_rate"] for i in judged if i != p]
        di = min(ratios) if ratios else None
    out["disparate_impact"] = di
    out["statistical_parity_difference"] = against(lambda g: g["selection_rate"])
    out["average_odds_difference"] = against(
        lambda g: None if g["tpr"] is None or g["fpr"] is None else (g["tpr"] + g["fpr"]) / 2)
    out["predictive_parity_difference"] = against(lambda g: g["precision"])
    return out, p


def key_order(key):
    return tuple((1, "") if v is None else (0, v) for v in key)


def subsets(k):
    if k > 4:
        return [[c] for c in range(k)] + [list(range(k))]
    out = []
    for size in range(1, k + 1):
        out += [list(s) for s in itertools.combinations(range(k), size)]
    return out


def analyse(case):
    columns = case["sensitive"]
    rows = case["rows"]
    attrs = [[r[c] for r in rows] for c in columns]
    classification = case["task"] == "classification"
    if classification:
        y = np.array([r["label"] for r in rows])
        if case.get("score"):
            yhat = np.array([1 if r["score"] >= case["threshold"] else 0 for r in rows])
        else:
            yhat = np.array([r["prediction"] for r in rows])
    else:
        y = np.array([r["target"] for r in rows], dtype=float)
        est = np.array([r["estimate"] for r in rows], dtype=float)
    result = {"groupings": []}
    if classification:
        result["overall"] = rates(y, yhat)
    for subset in subsets(len(columns)):
        keys = sorted({tuple(attrs[c][i] for c in subset) for i in range(len(rows))}, key=key_order)
        groups = []
        for key in keys:
            mask = np.array([all(attrs[c][i] == key[j] for j, c in enumerate(subset)) for i in range(len(rows))])
            label = ", ".join(f"{columns[c]}={'(missing)' if v is None else v}" for c, v in zip(subset, key))
            if classification:
                g = rates(y[mask], yhat[mask])
                if case.get("score"):
                    s = np.array([r["score"] for r in rows])[mask]
                    yy = y[mask]
                    bins = np.minimum((s * 10).astype(int), 9)
                    g["calibration"] = [
                        {"count": int((bins == b).sum()),
                         "mean_score": float(s[bins == b].mean()) if (bins == b).any() else None,
                         "observed_rate": float(yy[bins == b].mean()) if (bins == b).any() else None}
                        for b in range(10)]
            else:
                g = {"count": int(mask.sum()), "mean_prediction": float(est[mask].mean()),
                     "mae": float(mean_absolute_error(y[mask], est[mask])),
                     "rmse": float(np.sqrt(mean_squared_error(y[mask], est[mask])))}
            g["label"] = label
            g["judged"] = g["count"] >= case["min_group_size"]
            groups.append(g)
        grouping = {"name": " × ".join(columns[c] for c in subset), "groups": groups}
        if classification:
            named = None
            if all(columns[c] in case.get("privileged", {}) for c in subset):
                wanted = tuple(case["privileged"][columns[c]] for c in subset)
                named = keys.index(wanted) if wanted in keys else None
            grouping["disparities"], p = disparities(groups, named)
            grouping["privileged"] = None if p is None else groups[p]["label"]
        result["groupings"].append(grouping)
    return result


def row_bootstrap(case, resamples, confidence):
    """Percentile intervals of the first grouping's disparities from a plain row bootstrap."""
    columns = case["sensitive"]
    rows = case["rows"]
    rng = np.random.default_rng(20261202)
    samples = {d: [] for d in DISPARITIES}
    n = len(rows)
    for _ in range(resamples):
        picked = [rows[i] for i in rng.integers(0, n, n)]
        res = analyse({**case, "rows": picked, "sensitive": columns[:1]})["groupings"][0]["disparities"]
        for d in DISPARITIES:
            if res[d] is not None:
                samples[d].append(res[d])
    tail = (1 - confidence) / 2
    return {d: None if not v else [float(np.quantile(v, tail)), float(np.quantile(v, 1 - tail))] for d, v in samples.items()}


def main():
    rng = np.random.default_rng(17)
    cases = []

    # A credit model biased against one sex, with a missing age band and scores.
    n = 3000
    sex = rng.choice(["F", "M"], n, p=[0.45, 0.55])
    band = rng.choice(["18-25", "26-45", "46+", None], n, p=[0.2, 0.5, 0.25, 0.05])
    label = (rng.random(n) < np.where(band == "18-25", 0.35, 0.55)).astype(int)
    score = np.clip(0.35 * label + 0.6 * rng.random(n) + 0.05 - np.where(sex == "F", 0.12, 0.0), 0, 1)
    cases.append({"name": "credit", "task": "classification", "score": True, "threshold": 0.5, "min_group_size": 30,
                  "sensitive": ["sex", "age_band"],
                  "rows": [{"sex": str(sex[i]), "age_band": band[i], "label": int(label[i]), "score": round(float(score[i]), 6)}
                           for i in range(n)]})

    # Predictions only; three columns; one group without positives, one too small, a named privileged group.
    n = 1200
    region = rng.choice(["north", "south", "east"], n, p=[0.4, 0.4, 0.2])
    owner = rng.choice(["yes", "no"], n)
    tier = rng.choice(["a", "b", "c"], n, p=[0.49, 0.49, 0.02])
    label = (rng.random(n) < 0.4).astype(int)
    label[region == "east"] = 0
    pred = (rng.random(n) < np.where(label == 1, 0.7, 0.2)).astype(int)
    cases.append({"name": "undefined_rates", "task": "classification", "min_group_size": 30,
                  "sensitive": ["region", "owner", "tier"], "privileged": {"region": "north", "owner": "yes"},
                  "rows": [{"region": str(region[i]), "owner": str(owner[i]), "tier": str(tier[i]), "label": int(label[i]),
                            "prediction": int(pred[i])} for i in range(n)]})

    # Five columns: each alone and all together.
    n = 800
    cols = ["a", "b", "c", "d", "e"]
    values = {c: rng.choice(["0", "1"], n) for c in cols}
    label = (rng.random(n) < 0.5).astype(int)
    pred = (rng.random(n) < 0.5).astype(int)
    cases.append({"name": "five_columns", "task": "classification", "min_group_size": 10, "sensitive": cols,
                  "rows": [{**{c: str(values[c][i]) for c in cols}, "label": int(label[i]), "prediction": int(pred[i])}
                           for i in range(n)]})

    # A regression.
    n = 1000
    group = rng.choice(["x", "y", None], n, p=[0.5, 0.45, 0.05])
    target = rng.normal(100, 15, n)
    estimate = target + rng.normal(np.where(group == "x", 0.0, 5.0), 4.0)
    cases.append({"name": "regression", "task": "regression", "min_group_size": 30, "sensitive": ["group"],
                  "rows": [{"group": group[i], "target": round(float(target[i]), 6), "estimate": round(float(estimate[i]), 6)}
                           for i in range(n)]})

    for case in cases:
        case["expected"] = analyse(case)
    cases[0]["row_bootstrap"] = {"resamples": 4000, "confidence": 0.95, "intervals": row_bootstrap(cases[0], 4000, 0.95)}
    json.dump({"sklearn": __import__("sklearn").__version__, "cases": cases}, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
