namespace Distill.Core.Tracking;

internal static class ArtifactPaths
{
    /// <summary>Symbolic links followed before a path is given up as a loop (Linux's limit).</summary>
    private const int MaxLinks = 40;

    public static string RunDirectory(string storeDirectory, string runId) => Path.Combine(storeDirectory, "artifacts", runId);

    /// <summary>
    /// The full path of a validated, '/'-separated relative path; checked again to stay inside the folder,
    /// by its text and on disk: a symbolic link on the way (the file itself or a folder above it) that leads
    /// out of the folder is refused, so that nothing is read from or written to outside it through a link.
    /// </summary>
    public static string Resolve(string runDirectory, string relativePath)
    {
        string root = Path.GetFullPath(runDirectory);
        string full = Path.GetFullPath(Path.Combine(root, relativePath.Replace('/', Path.DirectorySeparatorChar)));
        if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidInputException($"artifact path '{TrackingNames.Printable(relativePath)}' leads outside the run's artifact folder {root}");
        string realRoot = RealPath(root);
        string real = RealPath(full);
        if (!real.StartsWith(realRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidInputException(
                $"artifact '{TrackingNames.Printable(relativePath)}' in {root} is a symbolic link, or lies in a linked folder, that leads outside it " +
                $"(to {TrackingNames.Printable(real)}); refusing to follow it");
        }
        return full;
    }

    /// <summary>
    /// The path with every symbolic link resolved, as the kernel resolves it: component by component, a link's
    /// target replacing the link, '..' taken after the links before it. Components that do not exist are kept as they are.
    /// </summary>
    internal static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        string current = Path.GetPathRoot(full)!;
        var pending = new Stack<string>();
        Push(pending, full[current.Length..]);
        int links = 0;
        while (pending.TryPop(out string? segment))
        {
            if (segment is "" or ".")
                continue;
            if (segment == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            string next = Path.Combine(current, segment);
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
                throw new InvalidInputException($"{TrackingNames.Printable(path)}: too many levels of symbolic links");
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            Push(pending, target);
        }
        return current;
    }

    private static void Push(Stack<string> pending, string relative)
    {
        string[] segments = relative.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        for (int i = segments.Length - 1; i >= 0; i--)
            pending.Push(segments[i]);
    }
}
