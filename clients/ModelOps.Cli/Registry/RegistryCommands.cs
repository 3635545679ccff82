using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Registry.V1;

namespace ModelOps.Cli.Registry;

/// <summary>
/// <c>modelops models …</c>, <c>promote</c>, <c>approve</c>, <c>reject</c> and <c>history</c>: the registry's gated
/// workflow from the command line.
/// </summary>
public static class RegistryCommands
{
    /// <summary>The registry address when neither <c>--registry</c> nor <c>MODELOPS_REGISTRY_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7102";

    private static readonly JsonParser PolicyParser = new(JsonParser.Settings.Default);

    /// <summary>The registry's commands.</summary>
    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("registry", "The registry's", DefaultAddress);
        var token = new Option<string?>("--token")
        {
            Description = "A bearer token (default: $MODELOPS_TOKEN, else the stack's tokens/<role>.jwt: pipeline, reviewer to review, admin for policies)",
            Recursive = true,
        };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };

        RegistryService.RegistryServiceClient Connect(ParseResult parse) => new(CliOutput.Channel(parse.GetValue(address)!));
        Metadata As(ParseResult parse, string role) => CliOutput.Headers(parse.GetValue(token), role);

        var modelName = new Argument<string>("model") { Description = "A registered model's name" };

        // ------------------------------------------------------------------ models
        var nameContains = new Option<string>("--name-contains") { Description = "Only models whose name contains this (case-insensitive)", DefaultValueFactory = _ => "" };
        var list = new Command("list", "List registered models") { nameContains };
        list.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var models = new List<RegisteredModel>();
            var page = "";
            do
            {
                var response = await Connect(parse).ListRegisteredModelsAsync(
                    new ListRegisteredModelsRequest { NameContains = parse.GetValue(nameContains)!, PageSize = 1000, PageToken = page }, As(parse, "pipeline"),
                    cancellationToken: cancellationToken);
                models.AddRange(response.Models);
                page = response.NextPageToken;
            }
            while (page.Length > 0);

            await CliOutput.Print(output, parse.GetValue(json), models, ["MODEL", "RISK", "OWNER", "LATEST", "PRODUCTION", "POLICY"],
                m => [m.Name, Tier(m.RiskTier), m.Owner, m.LatestVersion.ToString(CultureInfo.InvariantCulture),
                      string.Join(",", m.Current.Where(a => a.Target.Stage == Stage.Production).Select(a => a.Version)), $"v{m.PolicyVersion}"]);
            return 0;
        }));

        var show = new Command("show", "Show a model: its versions, what each stage and alias holds, its policy") { modelName };
        show.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var client = Connect(parse);
            var headers = As(parse, "pipeline");
            var model = await client.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = parse.GetValue(modelName)! }, headers, cancellationToken: cancellationToken);
            var versions = await client.ListModelVersionsAsync(new ListModelVersionsRequest { Model = model.Name, PageSize = 20 }, headers, cancellationToken: cancellationToken);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(CliOutput.Json.Format(model));
                return 0;
            }

            await output.WriteLineAsync($"model    {model.Name}   risk {Tier(model.RiskTier)}   owner {model.Owner}   policy v{model.PolicyVersion}");
            await CliOutput.Section(output, "holds", model.Current.Select(a => new[] { TargetText(a.Target), $"v{a.Version}", $"since {CliOutput.Time(a.Since)}", a.DecidedBy }));
            await CliOutput.Section(output, "versions", versions.Versions.Select(v => new[]
            {
                $"v{v.Version}", StageText(v.Stage), string.Join(",", v.Aliases), v.RunId, v.ArtifactPath, v.ArtifactSha256[..12], CliOutput.Time(v.CreatedAt),
            }));
            return 0;
        }));

        var tier = new Option<RiskTier>("--risk-tier") { Description = "Low, Medium or High (credit decisioning is High)", Required = true };
        var owner = new Option<string>("--owner") { Description = "Who answers for the model (default: you)", DefaultValueFactory = _ => "" };
        var description = new Option<string>("--description") { Description = "What it is for", DefaultValueFactory = _ => "" };
        var create = new Command("create", "Register a model") { modelName, tier, owner, description };
        create.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var model = await Connect(parse).CreateRegisteredModelAsync(new CreateRegisteredModelRequest
            {
                Name = parse.GetValue(modelName)!, RiskTier = parse.GetValue(tier), Owner = parse.GetValue(owner)!, Description = parse.GetValue(description)!,
            }, As(parse, "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync($"created {model.Name} (risk {Tier(model.RiskTier)})");
            return 0;
        }));

        var run = new Option<string>("--run") { Description = "The FINISHED tracking run that produced it", Required = true };
        var artifact = new Option<string>("--artifact") { Description = "The model file's path among the run's artifacts", Required = true };
        var register = new Command("register", "Register a version from a finished run's artifact (its bytes are re-verified)") { modelName, run, artifact, description };
        register.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var version = await Connect(parse).CreateModelVersionAsync(new CreateModelVersionRequest
            {
                Model = parse.GetValue(modelName)!, RunId = parse.GetValue(run)!, ArtifactPath = parse.GetValue(artifact)!, Description = parse.GetValue(description)!,
            }, As(parse, "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync(parse.GetValue(json) ? CliOutput.Json.Format(version) : $"registered {version.Model} v{version.Version} sha256 {version.ArtifactSha256}");
            return 0;
        }));

        var policyVersion = new Option<int>("--version") { Description = "An earlier version of the policy (default: the one in effect)" };
        var policyGet = new Command("get", "Print a model's policy as JSON") { modelName, policyVersion };
        policyGet.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var policy = await Connect(parse).GetPolicyAsync(new GetPolicyRequest { Model = parse.GetValue(modelName)!, Version = parse.GetValue(policyVersion) },
                As(parse, "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync(CliOutput.Json.Format(policy));
            return 0;
        }));
        var policyFile = new Option<FileInfo>("--file") { Description = "The policy as JSON (protobuf JSON mapping of modelops.registry.v1.Policy)", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why (required; recorded in the ledger)", Required = true };
        var policySet = new Command("set", "Replace a model's policy (admin); open requests are evaluated again") { modelName, policyFile, reason };
        policySet.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var policy = PolicyParser.Parse<Policy>(await File.ReadAllTextAsync(parse.GetValue(policyFile)!.FullName, cancellationToken));
            var stored = await Connect(parse).SetPolicyAsync(new SetPolicyRequest { Model = parse.GetValue(modelName)!, Policy = policy, Reason = parse.GetValue(reason)! },
                As(parse, "admin"), cancellationToken: cancellationToken);
            await output.WriteLineAsync($"policy v{stored.Version} of {stored.Model} in effect");
            return 0;
        }));

        var state = new Option<RequestState>("--state") { Description = "Only requests in this state: Open, Approved, Rejected, Cancelled, Superseded" };
        var requests = new Command("requests", "A model's promotion requests, newest first") { modelName, state };
        requests.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).ListPromotionRequestsAsync(new ListPromotionRequestsRequest
            {
                Model = parse.GetValue(modelName)!, State = parse.GetValue(state), PageSize = 100,
            }, As(parse, "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Requests, ["REQUEST", "VERSION", "TARGET", "STATE", "GATES", "REQUESTER", "CREATED"],
                r => [r.RequestId, $"v{r.Version}", TargetText(r.Target), RequestStateName(r.State),
                      $"{r.Gates.Count(g => g.Status == GateStatus.Pass)}/{r.Gates.Count} pass", r.Requester, CliOutput.Time(r.CreatedAt)]);
            return 0;
        }));

        var stageOption = new Option<Stage?>("--stage") { Description = "Staging, Production, Archived or None" };
        var aliasOption = new Option<string?>("--alias") { Description = "An alias: champion, challenger, ..." };
        var deployable = new Command("deployable", "What a stage or alias serves: version, artifact, SHA-256, gates, ledger index") { modelName, stageOption, aliasOption };
        deployable.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var target = TargetOf(parse.GetValue(stageOption), parse.GetValue(aliasOption)) ?? new Target { Stage = Stage.Production };
            var found = await Connect(parse).GetDeployableAsync(new GetDeployableRequest { Model = parse.GetValue(modelName)!, Target = target },
                As(parse, "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync(parse.GetValue(json)
                ? CliOutput.Json.Format(found)
                : $"{found.Model} v{found.Version} in {TargetText(found.Target)} since {CliOutput.Time(found.Since)}\n  {found.ArtifactUri}\n  sha256 {found.ArtifactSha256}\n  ledger index {found.LedgerIndex}");
            return 0;
        }));

        yield return new Command("models", "The model registry: models, versions, policies, requests")
        {
            address, token, json, list, show, create, register, new Command("policy", "A model's promotion policy") { policyGet, policySet }, requests, deployable,
        };

        // ------------------------------------------------------------------ promotion
        var versionArgument = new Argument<int>("version") { Description = "The version number" };
        var justification = new Option<string>("--justification", "-j") { Description = "Why this version should go there (required)", Required = true };
        var promote = new Command("promote", "Ask for a version to move to a stage or take an alias; prints the gate results")
        {
            modelName, versionArgument, stageOption, aliasOption, justification,
        };
        promote.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var target = TargetOf(parse.GetValue(stageOption), parse.GetValue(aliasOption));
            if (target is null)
            {
                await error.WriteLineAsync("error: give --stage or --alias");
                return ModelOpsCli.UsageOrConnectionError;
            }

            var request = await Connect(parse).RequestPromotionAsync(new RequestPromotionRequest
            {
                Model = parse.GetValue(modelName)!, Version = parse.GetValue(versionArgument), Target = target, Justification = parse.GetValue(justification)!,
            }, As(parse, "pipeline"), cancellationToken: cancellationToken);
            await PrintRequestAsync(output, parse.GetValue(json), request);
            return 0;
        }));

        var requestId = new Argument<string>("request") { Description = "A promotion request's id" };
        var comment = new Option<string>("--comment", "-m") { Description = "What you checked", DefaultValueFactory = _ => "" };
        var approve = new Command("approve", "Approve a promotion request (reviewer; not your own, not your own run's)") { requestId, comment };
        approve.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var request = await Connect(parse).ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = parse.GetValue(requestId)!, Comment = parse.GetValue(comment)! },
                As(parse, "reviewer"), cancellationToken: cancellationToken);
            await PrintRequestAsync(output, parse.GetValue(json), request);
            return 0;
        }));
        var reject = new Command("reject", "Reject a promotion request (reviewer; a comment is required)") { requestId, comment };
        reject.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var request = await Connect(parse).RejectPromotionAsync(new ReviewPromotionRequest { RequestId = parse.GetValue(requestId)!, Comment = parse.GetValue(comment)! },
                As(parse, "reviewer"), cancellationToken: cancellationToken);
            await PrintRequestAsync(output, parse.GetValue(json), request);
            return 0;
        }));

        var at = new Option<DateTimeOffset?>("--at") { Description = "Show what the stage or alias held at this instant (ISO 8601, e.g. 2026-11-23T10:00:00Z)" };
        var history = new Command("history", "Which version held which stage or alias, since when, by whose decision") { modelName, stageOption, aliasOption, at };
        history.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var client = Connect(parse);
            var headers = As(parse, "pipeline");
            var target = TargetOf(parse.GetValue(stageOption), parse.GetValue(aliasOption));
            List<Assignment> assignments;
            if (parse.GetValue(at) is { } instant)
            {
                target ??= new Target { Stage = Stage.Production };
                assignments = [.. (await client.GetAssignmentsAtAsync(new GetAssignmentsAtRequest
                {
                    Model = parse.GetValue(modelName)!, Target = target, At = Timestamp.FromDateTimeOffset(instant),
                }, headers, cancellationToken: cancellationToken)).Assignments];
            }
            else
            {
                assignments = [];
                var page = "";
                do
                {
                    var response = await client.ListHistoryAsync(new ListHistoryRequest { Model = parse.GetValue(modelName)!, Target = target, PageSize = 1000, PageToken = page },
                        headers, cancellationToken: cancellationToken);
                    assignments.AddRange(response.Assignments);
                    page = response.NextPageToken;
                }
                while (page.Length > 0);
            }

            await CliOutput.Print(output, parse.GetValue(json), assignments, ["TARGET", "VERSION", "FROM", "UNTIL", "DECIDED BY", "HOW"],
                a => [TargetText(a.Target), $"v{a.Version}", CliOutput.Time(a.Since), CliOutput.Time(a.Until), a.DecidedBy,
                      a.RequestId.Length > 0 ? $"request {a.RequestId}" : $"override: {a.OverrideReason}"]);
            return 0;
        }));

        foreach (var command in new[] { promote, approve, reject, history })
        {
            command.Options.Add(address);
            command.Options.Add(token);
            command.Options.Add(json);
            yield return command;
        }
    }

    private static async Task PrintRequestAsync(TextWriter output, bool json, PromotionRequest request)
    {
        if (json)
        {
            await output.WriteLineAsync(CliOutput.Json.Format(request));
            return;
        }

        await output.WriteLineAsync($"request  {request.RequestId}   {request.Model} v{request.Version} → {TargetText(request.Target)}   {RequestStateName(request.State)}");
        await CliOutput.Section(output, "gates", request.Gates.Select(g => new[] { GateStatusName(g.Status), g.Name, g.Reason }));
        await CliOutput.Section(output, "approvals", request.Approvals.Select(a => new[] { a.Reviewer, CliOutput.Time(a.At), a.Comment }));
    }

    private static Target? TargetOf(Stage? stage, string? alias) =>
        stage is { } s ? new Target { Stage = s } : alias is { Length: > 0 } ? new Target { Alias = alias } : null;

    private static string TargetText(Target target) =>
        target.KindCase == Target.KindOneofCase.Stage ? StageText(target.Stage) : $"alias {target.Alias}";

    private static string StageText(Stage stage) => stage.ToString().ToUpperInvariant();

    private static string Tier(RiskTier tier) => tier.ToString().ToUpperInvariant();

    private static string RequestStateName(RequestState state) => state.ToString().ToUpperInvariant();

    private static string GateStatusName(GateStatus status) => status.ToString().ToUpperInvariant();

    private static Task<int> Guard(TextWriter error, Func<Task<int>> action) => CliOutput.Guard(error, "registry", action);
}
