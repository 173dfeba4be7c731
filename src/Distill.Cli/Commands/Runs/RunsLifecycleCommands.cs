using System.CommandLine;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Runs;

public static class RunsLifecycleCommands
{
    public static Command Delete() => Create("delete", "Delete a run and its child runs (hidden from listings; 'runs restore' brings them back).",
        (store, id) => store.DeleteRun(id), "deleted");

    public static Command Restore() => Create("restore", "Restore a deleted run and the child runs deleted with it.",
        (store, id) => store.RestoreRun(id), "restored");

    private static Command Create(string name, string description, Func<RunStore, string, IReadOnlyList<string>> change, string done)
    {
        var id = new Argument<string>("run") { Description = "Run id or a unique prefix of it" };
        var command = new Command(name, description) { id };
        command.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var changed = change(store, parse.GetValue(id)!);
            Console.Out.WriteLine($"{done} run {changed[0]}" + (changed.Count > 1 ? $" and {changed.Count - 1} child run(s)" : ""));
            return ExitCodes.Success;
        });
        return command;
    }
}
