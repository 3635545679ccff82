using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Cli.Tracking;

/// <summary><c>modelops experiments|runs|artifacts …</c>: read the tracking service, move artifacts.</summary>
public static class TrackingCommands
{
    /// <summary>The tracking address when neither <c>--tracking</c> nor <c>MODELOPS_TRACKING_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7101";

    /// <summary>The <c>experiments</c>, <c>runs</c> and <c>artifacts</c> commands.</summary>
    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("tracking", "The tracking service's", DefaultAddress);
        var token = new Option<string?>("--token")
        {
            Description = "A bearer token (default: $MODELOPS_TOKEN, else the stack's tokens/pipeline.jwt when present)",
            Recursive = true,
        };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };

        TrackingClient Connect(ParseResult parse) => new(
            CliOutput.Channel(parse.GetValue(address)!, 8 << 20),
            Headers(parse.GetValue(token)));

        // ------------------------------------------------------------------ experiments
        var nameContains = new Option<string>("--name-contains") { Description = "Only experiments whose name contains this (case-insensitive)", DefaultValueFactory = _ => "" };
        var archived = new Option<bool>("--include-archived") { Description = "Include archived experiments" };
        var experimentsList = new Command("list", "List experiments") { nameContains, archived };
        experimentsList.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var client = Connect(parse);
            var all = new List<Experiment>();
            var page = "";
            do
            {
                var response = await client.Raw.SearchExperimentsAsync(new SearchExperimentsRequest
                {
                    NameContains = parse.GetValue(nameContains)!, IncludeArchived = parse.GetValue(archived), PageSize = 1000, PageToken = page,
                }, Headers(parse.GetValue(token)), cancellationToken: cancellationToken);
                all.AddRange(response.Experiments);
                page = response.NextPageToken;
            }
            while (page.Length > 0);

            await CliOutput.Print(output, parse.GetValue(json), all, ["ID", "NAME", "STAGE", "CREATED", "BY"],
                e => [e.ExperimentId, e.Name, e.LifecycleStage.ToString(), CliOutput.Time(e.CreatedAt), e.CreatedBy]);
            return 0;
        }));
        var experimentKey = new Argument<string>("experiment") { Description = "An experiment id or name" };
        var experimentsShow = new Command("show", "Show one experiment") { experimentKey };
        experimentsShow.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var experiment = await GetExperimentAsync(Connect(parse), parse.GetValue(experimentKey)!, Headers(parse.GetValue(token)), cancellationToken);
            await output.WriteLineAsync(CliOutput.Json.Format(experiment));
            return 0;
        }));

        // ------------------------------------------------------------------ runs
        var experimentsOption = new Option<string[]>("--experiment", "-e") { Description = "Experiment ids or names to search (repeatable)", Required = true };
        var filter = new Option<string>("--filter", "-f") { Description = "A filter: metrics.auc >= 0.75 AND (params.model = 'gbm' OR tags.team ILIKE 'risk%')", DefaultValueFactory = _ => "" };
        var orderBy = new Option<string[]>("--order-by") { Description = "Ordering keys like \"metrics.auc DESC\" (repeatable)" };
        var max = new Option<int>("--max") { Description = "At most this many runs (default 100)", DefaultValueFactory = _ => 100 };
        var view = new Option<RunViewType>("--view") { Description = "ActiveOnly, DeletedOnly or All", DefaultValueFactory = _ => RunViewType.ActiveOnly };
        async Task<int> SearchAsync(ParseResult parse, CancellationToken cancellationToken)
        {
            var client = Connect(parse);
            var headers = Headers(parse.GetValue(token));
            var request = new SearchRunsRequest { Filter = parse.GetValue(filter)!, RunViewType = parse.GetValue(view) };
            foreach (var key in parse.GetValue(experimentsOption)!)
            {
                request.ExperimentIds.Add((await GetExperimentAsync(client, key, headers, cancellationToken)).ExperimentId);
            }

            request.OrderBy.Add(parse.GetValue(orderBy) ?? []);
            var limit = Math.Max(1, parse.GetValue(max));
            var runs = new List<Run>();
            do
            {
                request.PageSize = Math.Min(1000, limit - runs.Count);
                var response = await client.Raw.SearchRunsAsync(request, headers, cancellationToken: cancellationToken);
                runs.AddRange(response.Runs);
                request.PageToken = response.NextPageToken;
            }
            while (request.PageToken.Length > 0 && runs.Count < limit);

            var metricKeys = runs.SelectMany(r => r.LatestMetrics.Select(m => m.Key)).Distinct().Order(StringComparer.Ordinal).Take(4).ToList();
            await CliOutput.Print(output, parse.GetValue(json), runs, ["RUN", "NAME", "STATUS", "STARTED", "AUTHOR", .. metricKeys],
                r => [r.RunId, r.RunName, r.Status.ToString().ToUpperInvariant(), CliOutput.Time(r.StartTime), r.Author,
                      .. metricKeys.Select(k => r.LatestMetrics.FirstOrDefault(m => m.Key == k)?.Value.ToString("G6", CultureInfo.InvariantCulture) ?? "")]);
            return 0;
        }

        var runsSearch = new Command("search", "Search (or, without --filter, list) runs of experiments, newest first unless ordered")
        {
            experimentsOption, filter, orderBy, max, view,
        };
        runsSearch.Aliases.Add("list");
        runsSearch.SetAction((parse, cancellationToken) => Guard(error, () => SearchAsync(parse, cancellationToken)));
        var runId = new Argument<string>("run") { Description = "A run id (32 hex digits)" };
        var runsShow = new Command("show", "Show a run: params, tags, latest metrics, inputs, provenance and what it lacks") { runId };
        runsShow.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var client = Connect(parse);
            var headers = Headers(parse.GetValue(token));
            var run = await client.Raw.GetRunAsync(new GetRunRequest { RunId = parse.GetValue(runId)! }, headers, cancellationToken: cancellationToken);
            var provenance = await client.Raw.GetProvenanceAsync(new GetProvenanceRequest { RunId = run.RunId }, headers, cancellationToken: cancellationToken);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(CliOutput.Json.Format(run));
                return 0;
            }

            await output.WriteLineAsync($"run        {run.RunId}  {run.RunName}  {run.Status.ToString().ToUpperInvariant()}");
            await output.WriteLineAsync($"experiment {run.ExperimentId}   author {run.Author}   started {CliOutput.Time(run.StartTime)}   ended {CliOutput.Time(run.EndTime)}");
            if (run.RecordSha256.Length > 0)
            {
                await output.WriteLineAsync($"record     sha256 {run.RecordSha256}");
            }

            await CliOutput.Section(output, "params", run.Params.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new[] { p.Key, p.Value }));
            await CliOutput.Section(output, "tags", run.Tags.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new[] { p.Key, p.Value }));
            // 12 significant digits for reading: 0.1 + 0.72 shows as 0.82, not 0.8200000000000001 (--json keeps every digit).
            await CliOutput.Section(output, "metrics", run.LatestMetrics.Select(m => new[] { m.Key, m.Value.ToString("G12", CultureInfo.InvariantCulture), $"step {m.Step}" }));
            await CliOutput.Section(output, "inputs", run.Inputs.Select(i => new[] { i.DatasetId, i.Hash, CliOutput.Time(i.SnapshotAt), i.Context }));
            await output.WriteLineAsync(provenance.Missing.Count == 0
                ? "provenance complete"
                : $"provenance lacks: {string.Join(", ", provenance.Missing)}");
            return 0;
        }));

        // ------------------------------------------------------------------ artifacts
        var file = new Argument<string>("file") { Description = "The local file" };
        var artifactPath = new Option<string?>("--path") { Description = "Its path within the run (default: the file name)" };
        var contentType = new Option<string?>("--content-type") { Description = "Its media type" };
        var upload = new Command("upload", "Upload a file into a run's artifacts (hashed first; verified by the service)") { runId, file, artifactPath, contentType };
        upload.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var artifact = await Connect(parse).UploadFileAsync(parse.GetValue(runId)!, parse.GetValue(file)!, parse.GetValue(artifactPath), parse.GetValue(contentType), cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), [artifact], ArtifactColumns, ArtifactRow);
            return 0;
        }));
        var remotePath = new Argument<string>("path") { Description = "The artifact's path within the run" };
        var destination = new Option<string?>("--out", "-o") { Description = "Where to write it (default: its file name in the current directory)" };
        var download = new Command("download", "Download an artifact, checking its SHA-256") { runId, remotePath, destination };
        download.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var path = parse.GetValue(remotePath)!;
            var target = parse.GetValue(destination) ?? Path.GetFileName(path);
            var partial = target + ".part";
            try
            {
                Artifact artifact;
                await using (var stream = File.Create(partial))
                {
                    artifact = await Connect(parse).DownloadArtifactAsync(parse.GetValue(runId)!, path, stream, cancellationToken);
                }

                File.Move(partial, target, overwrite: true);
                await output.WriteLineAsync($"{target}: {artifact.Size} bytes, sha256 {artifact.Sha256} verified");
                return 0;
            }
            finally
            {
                File.Delete(partial);
            }
        }));
        var prefix = new Option<string>("--prefix") { Description = "Only paths starting with this", DefaultValueFactory = _ => "" };
        var list = new Command("list", "List a run's artifacts") { runId, prefix };
        list.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var client = Connect(parse);
            var all = new List<Artifact>();
            var page = "";
            do
            {
                var response = await client.Raw.ListArtifactsAsync(new ListArtifactsRequest { RunId = parse.GetValue(runId)!, PathPrefix = parse.GetValue(prefix)!, PageSize = 1000, PageToken = page },
                    Headers(parse.GetValue(token)), cancellationToken: cancellationToken);
                all.AddRange(response.Artifacts);
                page = response.NextPageToken;
            }
            while (page.Length > 0);

            await CliOutput.Print(output, parse.GetValue(json), all, ArtifactColumns, ArtifactRow);
            return 0;
        }));

        yield return new Command("experiments", "Experiments of the tracking service") { address, token, json, experimentsList, experimentsShow };
        yield return new Command("runs", "Runs: list, search with the filter language, show") { address, token, json, runsSearch, runsShow };
        yield return new Command("artifacts", "A run's files: list, upload, download") { address, token, json, list, upload, download };
    }

    private static readonly string[] ArtifactColumns = ["PATH", "SIZE", "SHA256", "CONTENT TYPE"];

    private static string[] ArtifactRow(Artifact a) => [a.Path, a.Size.ToString(CultureInfo.InvariantCulture), a.Sha256, a.ContentType];

    private static async Task<Experiment> GetExperimentAsync(TrackingClient client, string key, Metadata headers, CancellationToken cancellationToken) =>
        await client.Raw.GetExperimentAsync(
            long.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? new GetExperimentRequest { ExperimentId = key } : new GetExperimentRequest { Name = key },
            headers, cancellationToken: cancellationToken);

    private static Metadata Headers(string? token) => CliOutput.Headers(token, "pipeline");

    private static Task<int> Guard(TextWriter error, Func<Task<int>> action) => CliOutput.Guard(error, "tracking service", action);
}
