namespace Distill.Core.Tracking;

/// <summary>Copies artifacts of a run out of the store.</summary>
public static class ArtifactDownload
{
    /// <summary>
    /// Copies the artifact <paramref name="artifactPath"/> (a file, or a folder: every artifact under it)
    /// to <paramref name="outDirectory"/>/&lt;artifact path&gt;, each file written atomically. Paths that
    /// are absolute or leave the artifact folder ('..', or a symbolic link leading out of it) are refused
    /// before anything is copied. Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> Download(RunStore store, string runId, string artifactPath, string outDirectory)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(outDirectory);
        string relative = TrackingNames.NormalizeArtifactPath(artifactPath);
        var run = store.GetRun(runId);
        var artifacts = store.ListArtifacts(run.Id);
        var selected = artifacts.Where(a => a.Path == relative || a.Path.StartsWith(relative + "/", StringComparison.Ordinal))
            .Select(a => a.Path).ToList();
        if (selected.Count == 0)
        {
            throw new InvalidInputException($"run {run.Id} has no artifact '{relative}'; its artifacts: " +
                (artifacts.Count == 0 ? "none" : string.Join(", ", artifacts.Select(a => a.Path))));
        }

        var sources = selected.Select(path => (Path: path, Source: store.ResolveArtifact(run.Id, path))).ToList();
        string root = Path.GetFullPath(outDirectory);
        if (File.Exists(root))
            throw new InvalidInputException($"{root}: is a file; --out must be a folder");
        var written = new List<string>();
        foreach (var (path, source) in sources)
        {
            string destination = ArtifactPaths.Resolve(root, path);
            AtomicFile.Copy(source, destination);
            written.Add(destination);
        }
        return written;
    }
}
