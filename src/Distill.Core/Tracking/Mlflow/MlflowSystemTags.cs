namespace Distill.Core.Tracking.Mlflow;

/// <summary>The tags MLflow's own clients set on a run, derived from the local run.</summary>
internal static class MlflowSystemTags
{
    public const string RunName = "mlflow.runName";
    public const string User = "mlflow.user";
    public const string SourceName = "mlflow.source.name";
    public const string SourceType = "mlflow.source.type";
    public const string ParentRunId = "mlflow.parentRunId";
    public const string Note = "mlflow.note.content";

    /// <summary>The local run id on the server, so that a remote run can be traced back to its store.</summary>
    public const string LocalRunId = "distill.run_id";

    /// <summary>The local tag that holds the recipe's description.</summary>
    public const string DescriptionTag = "description";

    public static string CurrentUser => Environment.UserName is { Length: > 0 } user ? user : "unknown";

    /// <summary>Tags sent with runs/create.</summary>
    public static List<MlflowKeyValue> AtCreation(string localRunId, string runName, string user, string? remoteParentId)
    {
        var tags = new List<MlflowKeyValue>
        {
            new(RunName, runName),
            new(User, user),
            new(SourceName, "distill"),
            new(SourceType, "LOCAL"),
            new(LocalRunId, localRunId),
        };
        if (remoteParentId is not null)
            tags.Add(new(ParentRunId, remoteParentId));
        return tags;
    }

    /// <summary>Local tags as they go to the server: as they are, plus the description as the run's note.</summary>
    public static IEnumerable<MlflowKeyValue> FromLocal(IReadOnlyDictionary<string, string> localTags)
    {
        foreach (var (key, value) in localTags)
            yield return new(key, value);
        if (localTags.TryGetValue(DescriptionTag, out var description))
            yield return new(Note, description);
    }
}
