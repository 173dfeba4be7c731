using System.CommandLine;
using Distill.Core;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Mlflow;
using Distill.Core.Training;
using Serilog;

namespace Distill.Cli;

/// <summary>Which MLflow tracking server, if any, gets the runs: --tracking-uri, else the recipe's tracking.uri, else $MLFLOW_TRACKING_URI.</summary>
public static class TrackingServer
{
    /// <summary>The server for a run of <paramref name="plan"/>, or null when none is configured.</summary>
    public static MlflowEndpoint? Resolve(ParseResult parse, RunPlan? plan, ILogger logger)
    {
        if (parse.GetValue(GlobalOptions.TrackingUri) is { } flag)
            return MlflowEndpoint.WithEnvironmentCredentials(flag, "--tracking-uri");
        if (plan?.Tracking.Uri is { } recipeUri)
            return MlflowEndpoint.WithEnvironmentCredentials(recipeUri, "tracking.uri of the recipe");
        if (Environment.GetEnvironmentVariable(MlflowEndpoint.UriVariable) is { Length: > 0 } env)
        {
            if (MlflowEndpoint.IsHttp(env))
                return MlflowEndpoint.WithEnvironmentCredentials(env, MlflowEndpoint.UriVariable);
            logger.Warning("{Variable}={Value} is not an http(s) server; Distill logs only to its own store (see `distill runs export --mlflow-dir`)",
                MlflowEndpoint.UriVariable, env);
        }
        return null;
    }

    /// <summary>A run executor whose runs also go to the configured MLflow server, if there is one.</summary>
    public static RunExecutor Executor(RunStore store, ILogger logger, IProgress<TrainingProgress> progress, ParseResult parse, RunPlan plan)
    {
        var endpoint = Resolve(parse, plan, logger);
        string storeArgument = GlobalOptions.StoreArgument(store.Directory);
        Func<string, string> resumeCommand = runId => RunExecutor.DefaultResumeCommand(runId) + storeArgument;
        if (endpoint is null)
            return new RunExecutor(store, logger, progress) { ResumeCommand = resumeCommand };
        logger.Information("MLflow tracking server {Server}: the run is sent there in the background", endpoint);
        return new RunExecutor(store, logger, progress)
        {
            TrackerDecorator = tracker => MlflowTracker.Wrap(tracker, store.Directory, endpoint, logger),
            ResumeCommand = resumeCommand,
        };
    }
}
