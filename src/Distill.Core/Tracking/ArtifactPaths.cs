namespace Distill.Core.Tracking;

internal static class ArtifactPaths
{
    public static string RunDirectory(string storeDirectory, string runId) => Path.Combine(storeDirectory, "artifacts", runId);

    /// <summary>The full path of a validated, '/'-separated relative path; checked again to stay inside the run's folder.</summary>
    public static string Resolve(string runDirectory, string relativePath)
    {
        string root = Path.GetFullPath(runDirectory);
        string full = Path.GetFullPath(Path.Combine(root, relativePath.Replace('/', Path.DirectorySeparatorChar)));
        if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidInputException($"artifact path '{relativePath}' leads outside the run's artifact folder {root}");
        return full;
    }
}
