using System.CommandLine;

namespace Distill.Cli;

/// <summary>Options every command accepts.</summary>
public static class GlobalOptions
{
    public static readonly Option<string?> Store = new("--store")
    {
        Description = "Folder of the run store; wins over a recipe's tracking.store (default: the recipe's tracking.store, else $DISTILL_STORE, else ./distill-runs)",
        Recursive = true,
    };

    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Debug logging, and stack traces on errors",
        Recursive = true,
    };

    public static readonly Option<int?> Threads = new("--threads")
    {
        Description = "CPU threads for TorchSharp (default: one per core); 1 is often faster on a busy machine",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print one JSON object on stdout instead of tables (logs go to stderr)",
        Recursive = true,
    };

    public static readonly Option<string?> TrackingUri = new("--tracking-uri")
    {
        Description = "MLflow tracking server (http or https URL) that also gets the runs; wins over a recipe's tracking.uri (default: the recipe's tracking.uri, else $MLFLOW_TRACKING_URI)",
        Recursive = true,
    };

    /// <summary>The one store resolution of every command: --store, then the recipe's tracking.store, then the
    /// <see cref="DefaultStoreDirectory"/>.</summary>
    public static string StoreDirectory(ParseResult parse, string? recipeStore = null)
    {
        if (parse.GetValue(Store) is { Length: > 0 } flag)
            return Path.GetFullPath(flag);
        if (recipeStore is { Length: > 0 })
            return Path.GetFullPath(recipeStore);
        return DefaultStoreDirectory();
    }

    /// <summary>The store a command given neither --store nor a recipe uses: $DISTILL_STORE, else ./distill-runs.</summary>
    public static string DefaultStoreDirectory() =>
        Environment.GetEnvironmentVariable("DISTILL_STORE") is { Length: > 0 } env
            ? Path.GetFullPath(env)
            : Path.Combine(Environment.CurrentDirectory, "distill-runs");

    /// <summary>" --store &lt;folder&gt;" when a later command run from here needs it to find <paramref name="storeDirectory"/>
    /// (it is not the <see cref="DefaultStoreDirectory"/>), else "".</summary>
    public static string StoreArgument(string storeDirectory) =>
        SameFolder(storeDirectory, DefaultStoreDirectory()) ? "" : " --store " + ShellWord(storeDirectory);

    /// <summary>How runs:/ references in a recipe are looked up: in the store this command uses for the recipe.</summary>
    public static Recipes.RunReferenceLookup References(ParseResult parse, bool missingRunIsNote = false) => new()
    {
        StoreDirectory = recipeStore => StoreDirectory(parse, recipeStore),
        MissingRunIsNote = missingRunIsNote,
    };

    private static bool SameFolder(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)),
            OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>A path as a POSIX shell reads it back: as it is when it has only safe characters, else in single quotes.</summary>
    internal static string ShellWord(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@%".Contains(c))
            ? text
            : "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
