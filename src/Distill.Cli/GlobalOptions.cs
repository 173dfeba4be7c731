using System.CommandLine;

namespace Distill.Cli;

/// <summary>Options every command accepts.</summary>
public static class GlobalOptions
{
    public static readonly Option<string?> Store = new("--store")
    {
        Description = "Folder of the run store; wins over a recipe's tracking.store (default: for train the recipe's tracking.store, else $DISTILL_STORE, else ./distill-runs)",
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

    /// <summary>--store, then the recipe's tracking.store, then DISTILL_STORE, then ./distill-runs.</summary>
    public static string StoreDirectory(ParseResult parse, string? recipeStore = null)
    {
        if (parse.GetValue(Store) is { Length: > 0 } flag)
            return Path.GetFullPath(flag);
        if (recipeStore is { Length: > 0 })
            return Path.GetFullPath(recipeStore);
        if (Environment.GetEnvironmentVariable("DISTILL_STORE") is { Length: > 0 } env)
            return Path.GetFullPath(env);
        return Path.Combine(Environment.CurrentDirectory, "distill-runs");
    }
}
