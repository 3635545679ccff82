using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelOps.AppHost.Resources;

namespace ModelOps.AppHost;

/// <summary>
/// Once every resource is healthy, prints where everything is (the dashboard with its login link, each service's
/// endpoints, the servers, the token issuer and the ledger's verifier key) and how long start-up took, and writes the
/// same to <c>endpoints.json</c> in the state folder (readable by its owner only) for clients and scripts, whose path
/// goes to the user-level file that names the stack started last. A resource that fails to start is printed with its
/// reason as soon as it fails. When the stack stops, both files go: a client then finds no stack rather than a dead one.
/// </summary>
internal sealed class StackSummary(IServiceProvider services, AppHostOptions options, string verifierKey) : BackgroundService
{
    // The file is read by clients and people, never embedded in a page: characters such as the verifier key's '+' are
    // written as themselves rather than escaped for HTML (\u002B).
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var notifications = services.GetRequiredService<ResourceNotificationService>();
        var model = services.GetRequiredService<DistributedApplicationModel>();
        var watched = model.Resources.Where(r => r is ModelOpsServiceResource or ILocalServerResource or TokenIssuerResource).ToList();
        var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();

        var failed = WatchForFailuresAsync(notifications, watched, stoppingToken);
        try
        {
            var first = await Task.WhenAny(AllAnswerAsync(watched, stoppingToken), failed);
            await first;
            if (first == failed)
            {
                return;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var elapsed = DateTime.UtcNow - started;
        var rows = Rows(model, verifierKey).ToList();
        Console.WriteLine(Table(rows));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ModelOps is ready in {elapsed.TotalSeconds:0.0} s. Press Ctrl+C to stop."));
        await WriteEndpointsAsync(model, rows, stoppingToken);
        if (options.UserFile is { } userFile)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(userFile)!);
            await File.WriteAllTextAsync(userFile, EndpointsFile + "\n", stoppingToken);
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (options.UserFile is { } userFile && File.Exists(userFile) && (await File.ReadAllTextAsync(userFile, cancellationToken)).Trim() == EndpointsFile)
        {
            File.Delete(userFile);
        }

        File.Delete(EndpointsFile);
    }

    private string EndpointsFile => Path.Combine(options.StateDirectory, ModelOps.Client.Stack.EndpointsFileName);

    // Asks every resource itself, five times a second, until each answers: a service its /health, a server its protocol.
    // Aspire's own health checks back off to five seconds between tries while a resource starts, which would report the
    // stack ready seconds after it is.
    private static async Task AllAnswerAsync(IReadOnlyList<IResource> resources, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var pending = resources.ToList();
        while (pending.Count > 0)
        {
            var answers = await Task.WhenAll(pending.Select(async resource => (resource, answers: await AnswersAsync(resource, http, cancellationToken))));
            pending = [.. answers.Where(a => !a.answers).Select(a => a.resource)];
            if (pending.Count > 0)
            {
                await Task.Delay(200, cancellationToken);
            }
        }
    }

    private static async Task<bool> AnswersAsync(IResource resource, HttpClient http, CancellationToken cancellationToken)
    {
        try
        {
            return resource switch
            {
                ModelOpsServiceResource project when project.Annotations.OfType<EndpointAnnotation>().FirstOrDefault(e => e.Name == "http") is { } endpoint =>
                    (await http.GetAsync($"http://127.0.0.1:{endpoint.AllocatedEndpoint?.Port ?? endpoint.Port}/health", cancellationToken)).IsSuccessStatusCode,
                ILocalServerResource server => server.Server.State == ModelOps.Hosting.Local.LocalState.Running && await server.AnswersAsync(cancellationToken),
                TokenIssuerResource issuer => await issuer.AnswersAsync(cancellationToken),
                _ => true,
            };
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    // Prints each resource that ends in a terminal state before the stack is ready, with its reason; completes when one does.
    private static async Task WatchForFailuresAsync(ResourceNotificationService notifications, IReadOnlyList<IResource> watched, CancellationToken cancellationToken)
    {
        var names = watched.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        await foreach (var update in notifications.WatchAsync(cancellationToken))
        {
            if (names.Contains(update.Resource.Name) && update.Snapshot.State?.Text is { } state &&
                (state == KnownResourceStates.FailedToStart || state == KnownResourceStates.Exited))
            {
                var reason = update.Snapshot.Properties.FirstOrDefault(p => p.Name == "failure")?.Value?.ToString()
                             ?? (update.Snapshot.ExitCode is { } code ? $"exited with code {code}" : state);
                Console.WriteLine($"FAILED: {update.Resource.Name}: {reason}. Its logs are in the dashboard; the cause is often a missing program: sudo scripts/bootstrap.sh");
                return;
            }
        }
    }

    private IEnumerable<(string Resource, string What, string Address)> Rows(DistributedApplicationModel model, string ledgerKey)
    {
        var configuration = services.GetRequiredService<IConfiguration>();
        var dashboard = configuration["ASPNETCORE_URLS"] ?? "";
        var browserToken = configuration["AppHost:BrowserToken"];
        yield return ("dashboard", "http", string.IsNullOrEmpty(browserToken) ? dashboard : $"{dashboard}/login?t={browserToken}");
        foreach (var resource in model.Resources)
        {
            switch (resource)
            {
                case ModelOpsServiceResource project:
                    foreach (var endpoint in project.Annotations.OfType<EndpointAnnotation>())
                    {
                        yield return (project.Name, endpoint.Name, $"http://127.0.0.1:{endpoint.AllocatedEndpoint?.Port ?? endpoint.Port}");
                    }

                    if (project.Name == "ledger")
                    {
                        yield return ("ledger", "verifier key", ledgerKey);
                    }

                    break;
                case LocalPostgresResource postgres:
                    yield return (postgres.Name, "tcp", $"127.0.0.1:{postgres.Postgres.Port}");
                    break;
                case LocalRabbitMqResource rabbit:
                    yield return (rabbit.Name, "amqp", $"amqp://127.0.0.1:{rabbit.RabbitMq.Port}");
                    yield return (rabbit.Name, "management", $"http://127.0.0.1:{rabbit.RabbitMq.ManagementPort}");
                    break;
                case LocalObjectStoreResource store:
                    yield return (store.Name, "s3", $"http://127.0.0.1:{store.Store.Port} ({store.Store.Kind})");
                    break;
                case TokenIssuerResource issuer:
                    yield return (issuer.Name, "issuer", issuer.Issuer.Issuer);
                    yield return (issuer.Name, "tokens", issuer.TokensDirectory);
                    break;
            }
        }
    }

    private static string Table(IReadOnlyList<(string Resource, string What, string Address)> rows)
    {
        var (first, second) = (Math.Max(8, rows.Max(r => r.Resource.Length)), Math.Max(8, rows.Max(r => r.What.Length)));
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"{"resource".PadRight(first)}  {"endpoint".PadRight(second)}  address");
        foreach (var (resource, what, address) in rows)
        {
            table.AppendLine(CultureInfo.InvariantCulture, $"{resource.PadRight(first)}  {what.PadRight(second)}  {address}");
        }

        return table.ToString().TrimEnd();
    }

    private async Task WriteEndpointsAsync(DistributedApplicationModel model, IReadOnlyList<(string Resource, string What, string Address)> rows, CancellationToken cancellationToken)
    {
        var document = new
        {
            dashboard = rows[0].Address,
            appHostPid = Environment.ProcessId,
            verifierKey,
            tokens = options.TokensDirectory,
            resources = rows.Skip(1).GroupBy(r => r.Resource).ToDictionary(g => g.Key, g => new
            {
                endpoints = g.Where(r => r.What != "verifier key").ToDictionary(r => r.What, r => r.Address),
            }),
            services = model.Resources.OfType<ModelOpsServiceResource>().Select(p => p.Name).ToArray(),
        };
        var path = EndpointsFile;
        await using (var file = new FileStream(path, new FileStreamOptions
                     {
                         Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                     }))
        {
            await JsonSerializer.SerializeAsync(file, document, Indented, cancellationToken);
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
