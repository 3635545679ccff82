using Microsoft.AspNetCore.Authentication.JwtBearer;

namespace ModelOps.Mlflow.Wire;

/// <summary>Who calls: a bearer token from ModelOps' issuer (MLflow's <c>MLFLOW_TRACKING_TOKEN</c>), nothing else.</summary>
public static class Identity
{
    /// <summary>The MLflow version <c>/version</c> reports: the REST API this façade speaks.</summary>
    public const string MlflowVersion = "2.22.0";

    /// <summary>
    /// Answers a request without a valid token as MLflow's 401 UNAUTHENTICATED, in JSON. Basic credentials
    /// (<c>MLFLOW_TRACKING_USERNAME</c>/<c>PASSWORD</c>) are refused with the way to a token: a password would have to be
    /// checked against an identity provider the façade does not hold, and the services behind it accept only tokens.
    /// </summary>
    public static async Task ChallengeAsync(JwtBearerChallengeContext challenge)
    {
        var context = challenge.HttpContext;
        if (!Routes.IsApi(context.Request.Path) || context.Response.HasStarted)
        {
            return;
        }

        challenge.HandleResponse();
        var header = context.Request.Headers.Authorization.ToString();
        var message = header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
            ? "ModelOps accepts bearer tokens only: unset MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, and set MLFLOW_TRACKING_TOKEN to a ModelOps token."
            : header.Length == 0
                ? "Authentication required: set MLFLOW_TRACKING_TOKEN to a ModelOps token."
                : $"The bearer token was refused{(challenge.AuthenticateFailure is null ? "" : " (invalid, expired, or not issued for ModelOps)")}: set MLFLOW_TRACKING_TOKEN to a valid ModelOps token.";
        context.Response.Headers.WWWAuthenticate = "Bearer";
        await MlflowJson.WriteErrorAsync(context.Response, MlflowError.Unauthenticated(message), context.RequestAborted);
    }
}
