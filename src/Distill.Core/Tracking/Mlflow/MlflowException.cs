using System.Net;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>An MLflow server answered with an error, or could not be reached within the retry budget.</summary>
public sealed class MlflowException : Exception
{
    public MlflowException(string message, HttpStatusCode? status, string? errorCode, Exception? inner = null, string? serverMessage = null)
        : base(message, inner)
    {
        Status = status;
        ErrorCode = errorCode;
        ServerMessage = serverMessage;
    }

    /// <summary>Null when no answer came (connection refused, timeout).</summary>
    public HttpStatusCode? Status { get; }

    /// <summary>MLflow's error_code, e.g. RESOURCE_ALREADY_EXISTS; null when the body had none.</summary>
    public string? ErrorCode { get; }

    /// <summary>The "message" of MLflow's error body, e.g. "Invalid metric name: 'a[0]'. …"; null when it had none.</summary>
    public string? ServerMessage { get; }

    /// <summary>HTTP 400 INVALID_PARAMETER_VALUE: the server's validation refused something in the request.</summary>
    public bool IsInvalidParameter => Status == HttpStatusCode.BadRequest && ErrorCode == "INVALID_PARAMETER_VALUE";

    public bool IsUnreachable => Status is null || Status == HttpStatusCode.TooManyRequests || (int)Status >= 500;

    public bool IsAuthentication => Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;
}
