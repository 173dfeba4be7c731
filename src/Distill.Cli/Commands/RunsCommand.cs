using System.CommandLine;
using Distill.Cli.Commands.Runs;

namespace Distill.Cli.Commands;

public static class RunsCommand
{
    public static Command Create()
    {
        var runs = new Command("runs", "List, inspect, compare and plot tracked runs.");
        runs.Subcommands.Add(RunsListCommand.Create());
        runs.Subcommands.Add(RunsShowCommand.Create());
        runs.Subcommands.Add(RunsCompareCommand.Create());
        runs.Subcommands.Add(RunsPlotCommand.Create());
        runs.Subcommands.Add(RunsParetoCommand.Create());
        runs.Subcommands.Add(RunsSummaryCommand.Create());
        runs.Subcommands.Add(RunsArtifactsCommands.List());
        runs.Subcommands.Add(RunsArtifactsCommands.Download());
        runs.Subcommands.Add(RunsLifecycleCommands.Delete());
        runs.Subcommands.Add(RunsLifecycleCommands.Restore());
        runs.Subcommands.Add(RunsImportCommand.Create());
        MlflowCommands.AddTo(runs);
        return runs;
    }
}
