using System.Net.Http.Headers;
using System.Text;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// An MLflow tracking server: its base URI (http or https) and the credentials sent with every
/// request (MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD as basic auth, or
/// MLFLOW_TRACKING_TOKEN as a bearer token, as MLflow's own clients read them).
/// </summary>
public sealed record MlflowEndpoint
{
    public const string UriVariable = "MLFLOW_TRACKING_URI";
    public const string UserVariable = "MLFLOW_TRACKING_USERNAME";
    public const string PasswordVariable = "MLFLOW_TRACKING_PASSWORD";
    public const string TokenVariable = "MLFLOW_TRACKING_TOKEN";

    private MlflowEndpoint(Uri baseUri) => BaseUri = baseUri;

    /// <summary>Ends without '/'; requests go to BaseUri + "/api/2.0/...".</summary>
    public Uri BaseUri { get; }

    public AuthenticationHeaderValue? Authorization { get; init; }

    /// <summary>The server as the sync state names it: scheme, host (lower case), port and path, no credentials.</summary>
    public string Key => BaseUri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    public override string ToString() => Key;

    /// <summary>True for text that names an http(s) server, i.e. what this client can talk to.</summary>
    public static bool IsHttp(string uri) =>
        uri.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses an http(s) URI; <paramref name="source"/> names where it came from in the error message.</summary>
    public static MlflowEndpoint Parse(string uri, string source)
    {
        ArgumentNullException.ThrowIfNull(uri);
        string text = uri.Trim();
        if (!Uri.TryCreate(text, UriKind.Absolute, out var parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
            || parsed.Host.Length == 0)
        {
            throw new InvalidInputException(
                $"{source}: '{TrackingNames.Printable(uri)}' is not an http(s) URL of an MLflow tracking server (e.g. http://127.0.0.1:5000)");
        }
        if (parsed.Query.Length > 0 || parsed.Fragment.Length > 0)
            throw new InvalidInputException($"{source}: '{TrackingNames.Printable(uri)}' has a query or fragment; give the server's base URL");
        if (parsed.UserInfo.Length > 0)
            throw new InvalidInputException($"{source}: '{parsed.Scheme}://…@{parsed.Authority}' carries credentials in the URL; use {UserVariable}/{PasswordVariable} or {TokenVariable}");
        var builder = new UriBuilder(parsed) { Path = parsed.AbsolutePath.TrimEnd('/') };
        return new MlflowEndpoint(builder.Uri);
    }

    /// <summary>The URI with the credentials of the environment (token first, else user and password).</summary>
    public static MlflowEndpoint WithEnvironmentCredentials(string uri, string source)
    {
        var endpoint = Parse(uri, source);
        string? token = Environment.GetEnvironmentVariable(TokenVariable);
        string? user = Environment.GetEnvironmentVariable(UserVariable);
        string? password = Environment.GetEnvironmentVariable(PasswordVariable);
        if (token is { Length: > 0 })
            return endpoint with { Authorization = new AuthenticationHeaderValue("Bearer", token) };
        if (user is { Length: > 0 } || password is { Length: > 0 })
        {
            if (user is not { Length: > 0 } || password is null)
                throw new InvalidInputException($"{UserVariable} and {PasswordVariable} must be set together for basic authentication");
            var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
            return endpoint with { Authorization = new AuthenticationHeaderValue("Basic", basic) };
        }
        return endpoint;
    }
}
