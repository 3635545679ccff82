using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Contracts;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Domain;

/// <summary>What a run's provenance says: the fields it has and lacks, and what it takes to re-run it.</summary>
public static class ProvenanceReports
{
    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    /// <summary>The provenance report of <paramref name="run"/>, its missing fields judged against <paramref name="mandatory"/>.</summary>
    public static ProvenanceReport Report(Run run, IReadOnlyList<string> mandatory)
    {
        var provenance = run.Provenance ?? new Provenance();
        var hyperparameters = Hyperparameters(run);
        var report = new ProvenanceReport
        {
            RunId = run.RunId,
            Provenance = provenance,
            StartedAt = run.StartTime,
            Hyperparameters = { hyperparameters },
            Missing = { ProvenanceFields.Missing(provenance, run.StartTime is not null, run.EndTime is not null, hyperparameters.Count, run.Inputs, mandatory) },
        };
        var absent = ProvenanceFields.Missing(provenance, run.StartTime is not null, run.EndTime is not null, hyperparameters.Count, run.Inputs, ProvenanceFields.All);
        report.Present.AddRange(ProvenanceFields.All.Except(absent));
        if (run.EndTime is not null)
        {
            report.EndedAt = run.EndTime;
        }

        return report;
    }

    /// <summary>What it takes to re-run <paramref name="run"/>: code, image, data snapshots, hyperparameters, seeds, the command.</summary>
    public static ReproBundle Bundle(Run run)
    {
        var provenance = run.Provenance ?? new Provenance();
        var hyperparameters = Hyperparameters(run);
        var datasets = run.Inputs.Select(i => Dataset(i.DatasetId, i.SnapshotAt)).ToList();
        if (provenance.DatasetId.Length > 0)
        {
            datasets.Insert(0, Dataset(provenance.DatasetId, provenance.DatasetSnapshotAt));
        }

        datasets = datasets.Distinct().ToList();
        var command = new StringBuilder(provenance.EntryPoint);
        foreach (var (key, value) in hyperparameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            command.Append(" --").Append(key).Append('=').Append(ShellQuote(value));
        }

        foreach (var (key, value) in provenance.Seeds.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            command.Append(" --seed.").Append(key).Append('=').Append(value.ToString(CultureInfo.InvariantCulture));
        }

        var bundle = new ReproBundle
        {
            RunId = run.RunId,
            GitSha = provenance.GitSha,
            RepoUrl = provenance.RepoUrl,
            ContainerDigest = provenance.ContainerDigest,
            Datasets = { datasets },
            Hyperparameters = { hyperparameters },
            Seeds = { provenance.Seeds },
            Command = command.ToString().Trim(),
        };
        var missing = new (bool Lacking, string Field)[]
        {
            (bundle.GitSha.Length == 0, "git_sha"),
            (bundle.ContainerDigest.Length == 0, "container_digest"),
            (datasets.Count == 0 || datasets.Any(d => d.EndsWith('@')), "dataset_snapshot_at"),
            (bundle.Seeds.Count == 0, "seeds"),
            (provenance.EntryPoint.Length == 0, "entry_point"),
        };
        bundle.Missing.Add(missing.Where(m => m.Lacking).Select(m => m.Field));
        var manifest = bundle.Clone();
        manifest.ManifestJson = "";
        bundle.ManifestJson = Encoding.UTF8.GetString(CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(ProtoJson.Format(manifest))));
        return bundle;
    }

    private static string Dataset(string id, Timestamp? snapshot) =>
        $"{id}@{(snapshot is null ? "" : snapshot.ToDateTimeOffset().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture))}";

    private static string ShellQuote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '/' or ':' or ',')
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static Dictionary<string, string> Hyperparameters(Run run)
    {
        var all = new Dictionary<string, string>(run.Provenance?.Hyperparameters ?? new Google.Protobuf.Collections.MapField<string, string>());
        foreach (var (key, value) in run.Params)
        {
            all.TryAdd(key, value);
        }

        return all;
    }
}
