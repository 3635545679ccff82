"""The pandas side of the fairness benchmark: the same rows (splitmix64 per row index, as Program.cs), the same report.

Per grouping (each sensitive column, each pair, all three) a pandas group-by sums the confusion cells and the
calibration bins, the rates and the disparities follow (Fairlearn's max − min and min / max; AIF360's against the group
with the highest selection rate); the bootstrap draws row indices with numpy and counts each resample's cells with
np.bincount, the fast way to do it in numpy. Generation is not timed. Prints JSON: seconds (and those spent outside the bootstrap), peak RSS (kB), the
disparities and the sex grouping's demographic parity ratio interval.
"""

import itertools
import json
import resource
import sys
import time

import numpy as np
import pandas as pd

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def uniforms(seed, count):
    z = (np.uint64(seed) << np.uint64(32)) + np.arange(count, dtype=np.uint64) + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def disparities(tn, fp, fn, tp, judged):
    n = tn + fp + fn + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        sr, tpr, fpr, ppv = (tp + fp) / n, tp / (tp + fn), fp / (fp + tn), tp / (tp + fp)
    out = {}

    def spread(x):
        v = x[judged & ~np.isnan(x)]
        return (v.max() - v.min(), v.min() / v.max() if v.max() > 0 else np.nan) if len(v) >= 2 else (np.nan, np.nan)

    (srd, srr), (td, tr), (fd, fr) = spread(sr), spread(tpr), spread(fpr)
    out["demographic_parity_difference"], out["demographic_parity_ratio"] = srd, srr
    out["equalized_odds_difference"], out["equalized_odds_ratio"] = max(td, fd), min(tr, fr)
    out["equal_opportunity_difference"], out["equal_opportunity_ratio"] = td, tr
    candidates = np.where(judged)[0]
    p = candidates[np.argmax(sr[candidates])]
    others = [g for g in candidates if g != p]
    out["disparate_impact"] = min(sr[g] / sr[p] for g in others)

    def against(x):
        d = [x[g] - x[p] for g in others]
        return d[int(np.argmax(np.abs(d)))]

    out["statistical_parity_difference"] = against(sr)
    out["average_odds_difference"] = against((tpr + fpr) / 2)
    out["predictive_parity_difference"] = against(ppv)
    return {k: float(v) for k, v in out.items()}


def main():
    rows, resamples = int(sys.argv[1]), int(sys.argv[2])
    u = [uniforms(k + 1, rows) for k in range(5)]
    sex, age, region = (u[0] * 2).astype(np.int64), (u[1] * 3).astype(np.int64), (u[2] * 4).astype(np.int64)
    label = (u[3] < 0.3 + 0.1 * sex).astype(np.int64)
    score = np.clip(0.35 * label + 0.6 * u[4] + 0.05 - np.where(sex == 0, 0.1, 0.0), 0, 1)
    frame = pd.DataFrame({"sex": sex, "age": age, "region": region, "label": label, "score": score})
    del u

    start = time.perf_counter()
    frame["pred"] = (frame["score"] >= 0.5).astype(np.int64)
    frame["cell"] = frame["label"] * 2 + frame["pred"]
    frame["bin"] = np.minimum((frame["score"] * 10).astype(np.int64), 9)
    columns = ["sex", "age", "region"]
    result = {}
    interval = None
    rng = np.random.default_rng(1)
    bootstrap = 0.0
    for size in range(1, 4):
        for subset in itertools.combinations(columns, size):
            keys = list(subset)
            cells = frame.groupby(keys + ["cell"]).size().unstack(fill_value=0).reindex(columns=range(4), fill_value=0)
            frame.groupby(keys + ["bin"]).agg(count=("score", "size"), mean_score=("score", "mean"), observed=("label", "mean"))
            tn, fp, fn, tp = (cells[c].to_numpy(dtype=np.float64) for c in range(4))
            judged = (tn + fp + fn + tp) >= 30
            result[",".join(keys)] = disparities(tn, fp, fn, tp, judged)
            # The row bootstrap: each resample's cells counted per group with np.bincount.
            group = frame.groupby(keys).ngroup().to_numpy()
            code = group * 4 + frame["cell"].to_numpy()
            groups = group.max() + 1
            ratios = []
            began = time.perf_counter()
            for _ in range(resamples):
                drawn = np.bincount(code[rng.integers(0, rows, rows)], minlength=4 * groups).reshape(groups, 4).astype(np.float64)
                d = disparities(drawn[:, 0], drawn[:, 1], drawn[:, 2], drawn[:, 3], judged)
                ratios.append(d["demographic_parity_ratio"])
            bootstrap += time.perf_counter() - began
            if keys == ["sex"]:
                interval = [float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))]
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump({"seconds": seconds, "point_seconds": seconds - bootstrap, "peak_kb": peak, "disparities": result, "sex_dp_ratio_interval": interval}, sys.stdout)


if __name__ == "__main__":
    main()
