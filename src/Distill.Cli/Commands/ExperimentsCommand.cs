using System.CommandLine;
using System.Globalization;
using Distill.Cli.Output;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Commands;

public static class ExperimentsCommand
{
    public static Command Create()
    {
        var experiments = new Command("experiments", "List, create and rename experiments.");

        var list = new Command("list", "List experiments with their numbers of runs, of child runs (phases) and of deleted runs.");
        list.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var found = store.ListExperiments();
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(
                    found.Select(e => new { name = e.Name, created_time = e.CreatedTime.UtcDateTime, runs = e.Runs, child_runs = e.ChildRuns, deleted_runs = e.DeletedRuns }),
                    new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumn("experiment").AddColumn("created")
                .AddColumn(new TableColumn("runs").RightAligned()).AddColumn(new TableColumn("child runs").RightAligned())
                .AddColumn(new TableColumn("deleted").RightAligned());
            foreach (var e in found)
            {
                table.AddRow(ConsoleText.Markup(e.Name), e.CreatedTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    e.Runs.ToString(CultureInfo.InvariantCulture), e.ChildRuns.ToString(CultureInfo.InvariantCulture),
                    e.DeletedRuns.ToString(CultureInfo.InvariantCulture));
            }
            AnsiConsole.Console.Write(table);
            Console.Out.WriteLine($"{found.Count} experiment(s) in {store.Directory}");
            return ExitCodes.Success;
        });

        var createName = new Argument<string>("name") { Description = "Name of the new experiment" };
        var create = new Command("create", "Create an empty experiment.") { createName };
        create.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            store.CreateExperiment(parse.GetValue(createName)!);
            Console.Out.WriteLine($"created experiment {parse.GetValue(createName)}");
            return ExitCodes.Success;
        });

        var oldName = new Argument<string>("name") { Description = "Current name" };
        var newName = new Argument<string>("new-name") { Description = "New name" };
        var rename = new Command("rename", "Rename an experiment; its runs follow.") { oldName, newName };
        rename.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            store.RenameExperiment(parse.GetValue(oldName)!, parse.GetValue(newName)!);
            Console.Out.WriteLine($"renamed experiment {parse.GetValue(oldName)} to {parse.GetValue(newName)}");
            return ExitCodes.Success;
        });

        experiments.Subcommands.Add(list);
        experiments.Subcommands.Add(create);
        experiments.Subcommands.Add(rename);
        return experiments;
    }
}
