using System.CommandLine;
using Distill.Cli.Output;
using Distill.Core;
using Distill.Core.Tracking;
using Distill.Recipes;

namespace Distill.Cli.Commands;

public static class TrainCommand
{
    /// <summary>Param that remembers the recipe's folder (recorded recipes of older runs name their files relative to it).</summary>
    public const string BaseDirectoryParam = "recipe.base_directory";

    private static readonly Argument<string?> Recipe = new("recipe")
    {
        Description = "Recipe file (YAML)",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public static readonly Option<string[]> Set = new("--set")
    {
        Description = "Override a recipe value, e.g. --set stages[1].epochs=3 (repeatable)",
        Arity = ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string?> Resume = new("--resume")
    {
        Description = "Continue an interrupted or failed run from its last checkpoint",
    };

    /// <summary>Set by `distill sweep` on the trials it starts: the new run is a child of this sweep run.</summary>
    public static readonly Option<string?> SweepRun = new("--sweep-run") { Hidden = true };

    /// <summary>Set by `distill sweep`: the trial's index, recorded as the run's distill.sweep.trial tag.</summary>
    public static readonly Option<int?> SweepTrial = new("--sweep-trial") { Hidden = true };

    public static Command Create()
    {
        var command = new Command("train", "Train the teacher and distil the student as the recipe says; prints a summary.")
        {
            Recipe, Set, Resume, SweepRun, SweepTrial,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var recipePath = parse.GetValue(Recipe);
        var resumeId = parse.GetValue(Resume);
        var overrides = parse.GetValue(Set) ?? [];
        bool json = parse.GetValue(GlobalOptions.Json);
        var logger = CliLogging.Create(parse.GetValue(GlobalOptions.Verbose));

        if (recipePath is null == resumeId is null)
            throw new InvalidInputException("give either a recipe file or --resume <run-id>");

        string runId;
        RunStore store;
        using var cancel = DistillCli.CancelOnSignals();
        var progress = ProgressPrinter.ForConsole();
        if (resumeId is not null)
        {
            if (overrides.Length > 0)
                throw new InvalidInputException("--set cannot change a run being resumed; start a new run instead");
            store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var run = store.GetRun(resumeId);
            if (run.Tags.ContainsKey(Core.Sweeps.SweepManifest.SweepTag) && !run.Tags.ContainsKey(Core.Sweeps.SweepManifest.TrialTag))
                throw new InvalidInputException($"run {run.Id} ({run.Name}) is a {(run.Tags.ContainsKey(FamilyTrain.FamilyTag) ? "family" : "sweep")} run; continue its unfinished runs with: distill sweep resume {run.Id}{GlobalOptions.StoreArgument(store.Directory)}");
            var recipe = RecordedRecipe.Of(store, run);
            if (!File.Exists(recipe.Path))
                throw new InvalidInputException($"run {run.Id} has no {RunExecutor.RecipeArtifact} artifact to resume from");
            var plan = recipe.Load();
            logger.Information("Resuming run {RunId} ({Name}) from store {Store}", run.Id, run.Name, store.Directory);
            runId = TrackingServer.Executor(store, logger, progress, parse, plan).Resume(plan, run.Id, cancel.Token);
        }
        else
        {
            var references = GlobalOptions.References(parse);
            var plan = RecipeLoader.Load(recipePath!, overrides, references: references);
            // A family's variants are trials of a family run; a trial (--sweep-run) is one variant and ignores the section.
            if (plan.Family is not null && parse.GetValue(SweepRun) is null)
                return FamilyTrain.Run(parse, plan, recipePath!, overrides, references);
            var recipeStore = plan.Tracking.Store is { } s ? Path.Combine(plan.BaseDirectory, s) : null;
            store = RunStore.Open(GlobalOptions.StoreDirectory(parse, recipeStore));
            logger.Information("Recipe {Recipe} → store {Store}", recipePath, store.Directory);
            foreach (var (key, reference, resolved) in references.Resolved)
                logger.Information("{Key} {Reference} → run {RunId} ({Name}, {Experiment}): {Path}", key, reference, resolved.Run.Id,
                    resolved.Run.Name, resolved.Run.Experiment, resolved.Path);
            var executor = TrackingServer.Executor(store, logger, progress, parse, plan);
            if (parse.GetValue(SweepRun) is { } sweepRun)
            {
                executor = executor.AsTrial(sweepRun, new Dictionary<string, string>
                {
                    [Core.Sweeps.SweepManifest.SweepTag] = sweepRun,
                    [Core.Sweeps.SweepManifest.TrialTag] = (parse.GetValue(SweepTrial) ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
                });
            }
            runId = executor.Train(plan with { Params = WithBaseDirectory(plan) }, cancel.Token);
        }

        using (store)
        {
            var finished = store.GetRun(runId);
            if (json)
                Console.Out.WriteLine(RunJson.Serialize(finished));
            else
            {
                SummaryTable.Print(finished, store.Directory);
                // A later `runs list` from this folder looks in the default store: say how to find this one.
                if (GlobalOptions.StoreArgument(store.Directory) is { Length: > 0 } storeArgument)
                    Console.Out.WriteLine($"runs are in {store.Directory}: distill runs list{storeArgument}");
            }
        }
        return ExitCodes.Success;
    }

    private static Dictionary<string, string> WithBaseDirectory(RunPlan plan) =>
        new(plan.Params) { [BaseDirectoryParam] = Path.GetFullPath(plan.BaseDirectory) };
}
