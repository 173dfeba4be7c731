using System.CommandLine;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Runs;

/// <summary>`distill runs import`: copies the runs of other stores (e.g. the stores the tasks of a Slurm sweep wrote) into
/// this one under the same ids, with parents, metrics, tags and artifacts; importing again changes only what changed.</summary>
public static class RunsImportCommand
{
    public static Command Create()
    {
        var sources = new Argument<string[]>("stores") { Description = "Folders of the run stores to import", Arity = ArgumentArity.OneOrMore };
        var import = new Command("import", "Copy the runs of other run stores into this one (same ids, parent links, metrics, tags and artifacts); idempotent.") { sources };
        import.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            int added = 0, updated = 0, unchanged = 0;
            foreach (string source in parse.GetValue(sources)!)
            {
                var result = store.Import(source);
                added += result.Added.Count;
                updated += result.Updated.Count;
                unchanged += result.Unchanged;
            }
            Console.Out.WriteLine($"imported into {store.Directory}: {added} new run(s), {updated} updated, {unchanged} unchanged");
            return ExitCodes.Success;
        });
        return import;
    }
}
