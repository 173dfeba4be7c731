using Distill.Core;
using Distill.Core.Export.Targets;

namespace Distill.Recipes.Targets;

/// <summary>One profile file found by <see cref="TargetCatalog.List"/>: its profile, or why it cannot be read.</summary>
public sealed record TargetEntry(string Name, string Path, string Origin, TargetProfile? Profile, string? Error);

/// <summary>Finds target profiles: a --target value is a profile file path, else &lt;name&gt;.yaml in
/// ./configs/targets (the current directory), else in the copy shipped next to the program.</summary>
public static class TargetCatalog
{
    public const string Folder = "configs/targets";

    /// <summary>The folders searched by name, first match wins, with a word for where each is.</summary>
    public static IReadOnlyList<(string Folder, string Origin)> SearchFolders()
    {
        var folders = new List<(string, string)> { (Path.GetFullPath(Folder), "current directory") };
        string shipped = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, Folder));
        if (!folders.Any(f => f.Item1 == shipped))
            folders.Add((shipped, "shipped"));
        return folders;
    }

    /// <param name="value">A profile file path or a profile name.</param>
    /// <param name="baseDirectory">Folder a relative file path is taken from (a recipe's folder), or null for the current directory.</param>
    /// <exception cref="InvalidInputException">Unknown target (the message lists the known ones) or a bad profile.</exception>
    public static TargetProfile Resolve(string value, string? baseDirectory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        string asPath = Path.GetFullPath(value, baseDirectory ?? Directory.GetCurrentDirectory());
        if (File.Exists(asPath))
            return TargetProfileLoader.Load(asPath);
        if (value.IndexOfAny(['/', '\\']) < 0 && !value.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var (folder, _) in SearchFolders())
            {
                string file = Path.Combine(folder, value + ".yaml");
                if (File.Exists(file))
                    return TargetProfileLoader.Load(file);
            }
        }
        var known = List().Select(e => e.Name).Distinct().ToList();
        throw new InvalidInputException(
            $"unknown target '{value}': not a profile file, and no {value}.yaml in {string.Join(" or ", SearchFolders().Select(f => f.Folder))}; " +
            $"known targets: {(known.Count == 0 ? "none" : string.Join(", ", known))}");
    }

    /// <summary>Every profile file in the search folders; a name found earlier hides later ones.</summary>
    public static IReadOnlyList<TargetEntry> List()
    {
        var entries = new List<TargetEntry>();
        foreach (var (folder, origin) in SearchFolders())
        {
            if (!Directory.Exists(folder))
                continue;
            foreach (string file in Directory.GetFiles(folder, "*.yaml").Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileNameWithoutExtension(file);
                if (entries.Any(e => e.Name == name))
                    continue;
                try
                {
                    entries.Add(new TargetEntry(name, file, origin, TargetProfileLoader.Load(file), null));
                }
                catch (InvalidInputException e)
                {
                    entries.Add(new TargetEntry(name, file, origin, null, e.Message));
                }
            }
        }
        return entries;
    }
}
