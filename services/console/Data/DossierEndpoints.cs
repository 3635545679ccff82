using Grpc.Core;
using ModelOps.Console.Identity;
using ModelOps.Dossier;

namespace ModelOps.Console.Data;

/// <summary>
/// <c>GET /dossier/{model}/{version}?format=html|json[&amp;decision=REQUEST_ID...]</c>: a version's audit dossier, with the
/// logged decisions of the request ids named explained, for a person signed in to the console
/// or a program presenting a bearer token (the CLI's <c>modelops dossier export</c>). Gathered as the caller, so the
/// services' own role checks apply.
/// </summary>
public static class DossierEndpoints
{
    /// <summary>Maps the endpoint.</summary>
    public static void Map(WebApplication app) => app.MapGet("/dossier/{model}/{version:int}", async (
        string model, int version, string? format, string[]? decision, HttpContext context, DossierBuilder builder, CancellationToken cancellationToken) =>
    {
        if (format is not (null or "html" or "json"))
        {
            return Results.BadRequest("format must be html or json");
        }

        decision ??= [];
        if (DossierDecisions.Problem(decision) is { } problem)
        {
            return Results.BadRequest($"decision: {problem}");
        }

        if (model.Length is 0 or > 256 || version < 1)
        {
            return Results.BadRequest("model is 1 to 256 characters and version a positive number");
        }

        var token = context.User.FindFirst(ConsoleSignIn.TokenClaim)?.Value
                    ?? context.Request.Headers.Authorization.ToString()["Bearer ".Length..].Trim();
        var headers = new Metadata { { "Authorization", $"Bearer {token}" } };
        AuditDossier dossier;
        try
        {
            dossier = await builder.BuildAsync(model, version, context.User.FindFirst("sub")?.Value ?? "", headers, cancellationToken, decisions: decision);
        }
        catch (RpcException exception)
        {
            return Results.Problem(statusCode: StatusOf(exception.StatusCode), detail: exception.Status.Detail, title: "The dossier could not be gathered");
        }

        return format == "json"
            ? Results.File(System.Text.Encoding.UTF8.GetBytes(dossier.ToJson()), "application/json; charset=utf-8", $"{Safe($"{model}-v{version}.dossier")}.json")
            : Results.Text(DossierHtml.Render(dossier), "text/html", System.Text.Encoding.UTF8);
    });

    private static int StatusOf(StatusCode code) => code switch
    {
        StatusCode.NotFound => StatusCodes.Status404NotFound,
        StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
        StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
        StatusCode.InvalidArgument => StatusCodes.Status400BadRequest,
        StatusCode.ResourceExhausted => StatusCodes.Status413PayloadTooLarge,
        StatusCode.FailedPrecondition => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status503ServiceUnavailable,
    };

    private static string Safe(string name) => new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '_')]);
}
