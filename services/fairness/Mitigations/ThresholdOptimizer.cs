namespace ModelOps.Fairness.Mitigations;

/// <summary>The constraint per-group thresholds satisfy.</summary>
public enum ParityConstraint
{
    /// <summary>Selection rates within the tolerance of each other.</summary>
    DemographicParity,

    /// <summary>True-positive rates within the tolerance of each other, and false-positive rates too.</summary>
    EqualizedOdds,
}

/// <summary>One group's threshold: predict 1 when score ≥ <see cref="Threshold"/>; <see cref="SelectNone"/>: predict 0 always.</summary>
/// <param name="Threshold">The threshold (meaningless when <paramref name="SelectNone"/>).</param>
/// <param name="SelectNone">Whether no score selects.</param>
public readonly record struct GroupCut(double Threshold, bool SelectNone)
{
    /// <summary>Whether <paramref name="score"/> is predicted 1.</summary>
    public bool Selects(double score) => !SelectNone && score >= Threshold;
}

/// <summary>
/// Per-group thresholds on a classifier's scores with the highest accuracy on the data under a parity constraint, in
/// the manner of Fairlearn's ThresholdOptimizer but deterministic: Fairlearn mixes two thresholds at random to reach
/// the constraint exactly, which gives two applicants of the same group and score different decisions; here each group
/// has one threshold and the constraint holds within a tolerance. No .NET library offers this.
/// <para>
/// Accuracy is a sum over groups, so under a window of rates the groups choose independently: for a window
/// [L, L + tolerance] of selection rates (or of TPR and of FPR) each constrained group takes its most accurate threshold
/// whose rate lies in the window — a contiguous run of its candidate thresholds, since rates only grow as the threshold
/// falls, found by binary search and answered by a sparse table of maxima. An optimum's lowest rate is one some group
/// can reach, so trying every reachable rate as L finds the optimum. Candidates are every distinct score of a group
/// (and "select none") up to <see cref="MaxCandidates"/>, evenly spaced ranks beyond; windows likewise up to
/// <see cref="MaxWindows"/> per rate. Below those caps the result is the exact optimum (the tests check it against a
/// brute-force search). Groups not constrained (too small) keep the given threshold.
/// </para>
/// </summary>
public static class ThresholdOptimizer
{
    /// <summary>Most candidate thresholds per group.</summary>
    public const int MaxCandidates = 2000;

    /// <summary>Most window starts per rate.</summary>
    public const int MaxWindows = 400;

    private const double Slack = 1e-12;

    /// <summary>The thresholds per group (<paramref name="groups"/>[row] in 0 … <paramref name="constrained"/>.Length − 1).</summary>
    public static GroupCut[] Optimize(
        int[] groups, byte[] labels, double[] scores, bool[] constrained, double threshold, ParityConstraint constraint, double tolerance)
    {
        var count = constrained.Length;
        var members = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        for (var row = 0; row < groups.Length; row++)
        {
            members[groups[row]].Add(row);
        }

        var candidates = new Candidates[count];
        var cuts = new GroupCut[count];
        for (var g = 0; g < count; g++)
        {
            cuts[g] = new GroupCut(threshold, false);
            if (constrained[g])
            {
                candidates[g] = Candidates.Of(members[g], labels, scores);
            }
        }

        var active = Enumerable.Range(0, count).Where(g => constrained[g] && candidates[g].Rows > 0).ToArray();
        if (active.Length == 0)
        {
            return cuts;
        }

        var best = long.MinValue;
        int[]? chosen = null;
        var picks = new int[count];
        if (constraint == ParityConstraint.DemographicParity)
        {
            foreach (var low in Starts(active.SelectMany(g => candidates[g].SelectionRates)))
            {
                if (Choose(active, candidates, picks, g => (candidates[g].SelectionRates, low), null) is { } total && total > best)
                {
                    (best, chosen) = (total, (int[])picks.Clone());
                }
            }
        }
        else
        {
            var tprStarts = Starts(active.Where(g => candidates[g].Positives > 0).SelectMany(g => candidates[g].Tprs)).DefaultIfEmpty(0).ToArray();
            var fprStarts = Starts(active.Where(g => candidates[g].Negatives > 0).SelectMany(g => candidates[g].Fprs)).DefaultIfEmpty(0).ToArray();
            foreach (var lowTpr in tprStarts)
            {
                foreach (var lowFpr in fprStarts)
                {
                    var total = Choose(active, candidates, picks,
                        g => candidates[g].Positives > 0 ? (candidates[g].Tprs, lowTpr) : null,
                        g => candidates[g].Negatives > 0 ? (candidates[g].Fprs, lowFpr) : null);
                    if (total is { } sum && sum > best)
                    {
                        (best, chosen) = (sum, (int[])picks.Clone());
                    }
                }
            }
        }

        // "Select none" in every group always satisfies either constraint, so some window is feasible.
        foreach (var g in active)
        {
            cuts[g] = candidates[g].Cut(chosen![g]);
        }

        return cuts;

        long? Choose(int[] groupsToChoose, Candidates[] all, int[] into, Func<int, (double[] Rates, double Low)?> first, Func<int, (double[] Rates, double Low)?>? second)
        {
            long total = 0;
            foreach (var g in groupsToChoose)
            {
                var (from, to) = (0, all[g].Count - 1);
                foreach (var window in new[] { first(g), second?.Invoke(g) })
                {
                    if (window is { } w)
                    {
                        from = Math.Max(from, LowerBound(w.Rates, w.Low - Slack));
                        to = Math.Min(to, LowerBound(w.Rates, w.Low + tolerance + Slack) - 1);
                    }
                }

                if (from > to)
                {
                    return null;
                }

                var pick = all[g].Best(from, to);
                into[g] = pick;
                total += all[g].Correct[pick];
            }

            return total;
        }
    }

    /// <summary>The distinct rates, at most <see cref="MaxWindows"/> of them evenly spaced by rank.</summary>
    private static double[] Starts(IEnumerable<double> rates)
    {
        var distinct = rates.Distinct().Order().ToArray();
        if (distinct.Length <= MaxWindows)
        {
            return distinct;
        }

        return [.. Enumerable.Range(0, MaxWindows).Select(i => distinct[(int)((long)i * (distinct.Length - 1) / (MaxWindows - 1))]).Distinct()];
    }

    private static int LowerBound(double[] sorted, double value)
    {
        var (low, high) = (0, sorted.Length);
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (sorted[middle] < value)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    /// <summary>One group's candidate thresholds, from "select none" down to its lowest score, with what each gives.</summary>
    private sealed class Candidates
    {
        private int[][] _table = [];

        public int Rows { get; private init; }

        public long Positives { get; private init; }

        public long Negatives { get; private init; }

        /// <summary>Thresholds, descending; index 0 selects none.</summary>
        public double[] Thresholds { get; private init; } = [];

        public double[] SelectionRates { get; private init; } = [];

        public double[] Tprs { get; private init; } = [];

        public double[] Fprs { get; private init; } = [];

        public long[] Correct { get; private init; } = [];

        public int Count => Thresholds.Length;

        public static Candidates Of(List<int> rows, byte[] labels, double[] scores)
        {
            var ordered = rows.OrderByDescending(r => scores[r]).ToArray();
            var sortedScores = ordered.Select(r => scores[r]).ToArray();
            var sortedLabels = ordered.Select(r => labels[r]).ToArray();
            long positives = sortedLabels.Count(l => l == 1), negatives = rows.Count - positives;

            // Distinct scores, descending: the threshold s selects every row scoring ≥ s.
            var ends = new List<int>();
            for (var i = 0; i < sortedScores.Length; i++)
            {
                if (i + 1 == sortedScores.Length || sortedScores[i + 1] != sortedScores[i])
                {
                    ends.Add(i + 1);
                }
            }

            if (ends.Count > MaxCandidates - 1)
            {
                ends = [.. Enumerable.Range(1, MaxCandidates - 1).Select(i => ends[(int)((long)i * (ends.Count - 1) / (MaxCandidates - 1))]).Distinct()];
            }

            var thresholds = new List<double> { double.PositiveInfinity };
            var selection = new List<double> { 0 };
            var tprs = new List<double> { 0 };
            var fprs = new List<double> { 0 };
            var correct = new List<long> { negatives };
            long tp = 0, fp = 0;
            var at = 0;
            foreach (var end in ends)
            {
                for (; at < end; at++)
                {
                    if (sortedLabels[at] == 1)
                    {
                        tp++;
                    }
                    else
                    {
                        fp++;
                    }
                }

                thresholds.Add(sortedScores[end - 1]);
                selection.Add((double)end / rows.Count);
                tprs.Add(positives == 0 ? 0 : (double)tp / positives);
                fprs.Add(negatives == 0 ? 0 : (double)fp / negatives);
                correct.Add(tp + (negatives - fp));
            }

            var candidates = new Candidates
            {
                Rows = rows.Count, Positives = positives, Negatives = negatives, Thresholds = [.. thresholds], SelectionRates = [.. selection],
                Tprs = [.. tprs], Fprs = [.. fprs], Correct = [.. correct],
            };
            candidates.BuildTable();
            return candidates;
        }

        public GroupCut Cut(int index) => index == 0 ? new GroupCut(1, true) : new GroupCut(Thresholds[index], false);

        /// <summary>The candidate in [from, to] with the most correct predictions (the first such).</summary>
        public int Best(int from, int to)
        {
            var level = 31 - int.LeadingZeroCount(to - from + 1);
            var (a, b) = (_table[level][from], _table[level][to - (1 << level) + 1]);
            return Correct[b] > Correct[a] || (Correct[b] == Correct[a] && b < a) ? b : a;
        }

        private void BuildTable()
        {
            var levels = new List<int[]> { Enumerable.Range(0, Count).ToArray() };
            for (var width = 2; width <= Count; width *= 2)
            {
                var previous = levels[^1];
                var half = width / 2;
                var next = new int[Count - width + 1];
                for (var i = 0; i < next.Length; i++)
                {
                    var (a, b) = (previous[i], previous[i + half]);
                    next[i] = Correct[b] > Correct[a] ? b : a;
                }

                levels.Add(next);
            }

            _table = [.. levels];
        }
    }
}
