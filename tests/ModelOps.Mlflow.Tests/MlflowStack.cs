using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ModelOps.Registry.V1;
using ModelOps.Testing;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tests;

/// <summary>
/// Tracking, the registry and the MLflow façade as processes, each on its own database, sharing one bucket; the façade
/// finds the others by service discovery and calls them with its caller's token.
/// </summary>
public sealed class MlflowStack(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private readonly List<HttpClient> _clients = [];

    /// <summary>Tracking's largest artifact in this stack.</summary>
    public const long MaxArtifactBytes = 1 << 20;

    /// <summary>The running services.</summary>
    public TestStack Stack { get; private set; } = null!;

    /// <summary>The façade's base address (what MLFLOW_TRACKING_URI names).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        Stack = await TestStack.CreateAsync(infrastructure, "mlflow");
        // A small artifact bound, so that a test can pass it.
        await Stack.StartAsync("tracking", new ServiceProjects.ModelOps_Tracking(), settings: new Dictionary<string, string> { ["Tracking:MaxArtifactBytes"] = MaxArtifactBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await Stack.StartAsync("registry", new ServiceProjects.ModelOps_Registry(), ["tracking"],
            new Dictionary<string, string> { ["ConnectionStrings:artifacts"] = Stack.Shared.ObjectStoreConnectionString });
        await Stack.StartAsync("mlflow", new ServiceProjects.ModelOps_Mlflow(), ["tracking", "registry"]);
        BaseAddress = new Uri(Stack.HttpAddress("mlflow"));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await Stack.DisposeAsync();
    }

    /// <summary>An MLflow REST client for <paramref name="subject"/> in <paramref name="roles"/> (no token when <paramref name="subject"/> is null).</summary>
    public MlflowHttp As(string? subject, params string[] roles)
    {
        var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (subject is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Stack.Shared.Tokens.CreateToken(subject, roles, teams: ["risk"]));
        }

        lock (_clients)
        {
            _clients.Add(http);
        }

        return new MlflowHttp(http);
    }

    /// <summary>Tracking's gRPC client, as <paramref name="subject"/>.</summary>
    public TrackingService.TrackingServiceClient Tracking(string subject, params string[] roles) =>
        new(Stack.Invoker("tracking", Stack.As(subject, roles, ["risk"])));

    /// <summary>The registry's gRPC client, as <paramref name="subject"/>.</summary>
    public RegistryService.RegistryServiceClient Registry(string subject, params string[] roles) =>
        new(Stack.Invoker("registry", Stack.As(subject, roles, ["risk"])));
}

/// <summary>A response: its status, its JSON body (null when not JSON), and its headers.</summary>
public sealed record MlflowResponse(int Status, JsonNode? Body, HttpResponseMessage Message)
{
    /// <summary>The body's field <paramref name="name"/>.</summary>
    public JsonNode this[string name] => Body![name]!;

    /// <summary>The error envelope's code.</summary>
    public string? ErrorCode => Body?["error_code"]?.GetValue<string>();

    /// <summary>The error envelope's message.</summary>
    public string Text => Body?["message"]?.GetValue<string>() ?? "";
}

/// <summary>MLflow's REST API over HTTP/1.1, as the clients call it; every answer is checked not to be a 5xx.</summary>
public sealed class MlflowHttp(HttpClient http)
{
    /// <summary>The underlying client.</summary>
    public HttpClient Http => http;

    /// <summary>POSTs <paramref name="json"/> to <c>/api/2.0/mlflow/</c><paramref name="path"/>.</summary>
    public Task<MlflowResponse> PostAsync(string path, string json) => SendAsync(HttpMethod.Post, path, json);

    /// <summary>GETs <c>/api/2.0/mlflow/</c><paramref name="pathAndQuery"/>.</summary>
    public Task<MlflowResponse> GetAsync(string pathAndQuery) => SendAsync(HttpMethod.Get, pathAndQuery, null);

    /// <summary>Sends <paramref name="json"/> (or no body) with <paramref name="method"/>; an absolute path is taken as given.</summary>
    public async Task<MlflowResponse> SendAsync(HttpMethod method, string path, string? json, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path.StartsWith('/') ? path : "/api/2.0/mlflow/" + path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        return await ReadAsync(await http.SendAsync(request, TestContext.Current.CancellationToken));
    }

    /// <summary>Sends raw bytes (an artifact PUT).</summary>
    public async Task<MlflowResponse> SendBytesAsync(HttpMethod method, string path, byte[] bytes, string contentType)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await ReadAsync(await http.SendAsync(request, TestContext.Current.CancellationToken));
    }

    private static async Task<MlflowResponse> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        // 501 is the one 5xx answered on purpose (multipart upload declined, which no client retries); any other is a defect.
        Assert.True((int)response.StatusCode is < 500 or 501, $"{(int)response.StatusCode} {response.RequestMessage?.RequestUri}: {text}");
        JsonNode? body = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            body = JsonNode.Parse(text);
        }

        return new MlflowResponse((int)response.StatusCode, body, response);
    }
}
