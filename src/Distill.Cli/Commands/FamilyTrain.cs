using System.CommandLine;
using System.Globalization;
using Distill.Cli.Commands.Sweep;
using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;
using Distill.Recipes;

namespace Distill.Cli.Commands;

/// <summary>
/// `distill train &lt;recipe&gt;` of a recipe with a family: section: a family run (a local sweep run whose trials are the
/// variants) trains each variant in its own child run — the first one alone when it trains the teacher that the others
/// then load — and each variant exports to the recipe's targets as it ends; then a family manifest is measured for each
/// ONNX target into the family run's exports/&lt;target&gt;/family/.
/// </summary>
internal static class FamilyTrain
{
    /// <summary>Tag of a family run: how many variants it has.</summary>
    public const string FamilyTag = "distill.family";

    public static int Run(ParseResult parse, RunPlan plan, string recipePath, IReadOnlyList<string> overrides, RunReferenceLookup references)
    {
        var family = plan.Family!;
        string recipe = Path.GetFullPath(recipePath);
        SweepSpace.CheckFamily(recipe, family, overrides, references);
        var commandLine = overrides.Select(o => new TrialValue(o[..o.IndexOf('=', StringComparison.Ordinal)], o[(o.IndexOf('=', StringComparison.Ordinal) + 1)..])).ToList();
        var trials = family.Variants.Select((v, i) => new SweepTrial(i, [.. commandLine, .. v.Values]) { Name = v.Name }).ToList();

        var recipeStore = plan.Tracking.Store is { } s ? Path.Combine(plan.BaseDirectory, s) : null;
        using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse, recipeStore));
        using var familyRun = store.StartRun(plan.Tracking.Experiment, RunName(plan.Name));
        var manifest = new SweepManifest
        {
            SweepRunId = familyRun.RunId,
            Recipe = recipe,
            Backend = "local",
            Metric = SweepSettings.DefaultMetric,
            Mode = "max",
            Parallel = family.Parallel,
            Space = new SearchSpace([], []),
            Trials = trials,
            Family = new FamilyRunSettings(family.ShareTeacher && plan.Teacher?.Train is not null,
                [.. plan.Exports.Where(p => p.Format.Name == "onnx").Select(p => p.Source ?? p.Name)], plan.Energy.WattsPerCore),
        };
        string folder = SweepManifest.Folder(store.Directory, familyRun.RunId);
        Save(manifest, folder, familyRun);
        familyRun.LogParams(new Dictionary<string, string>
        {
            ["family.recipe"] = recipe,
            ["family.variants"] = string.Join(",", family.Variants.Select(v => v.Name)),
            ["family.share_teacher"] = family.ShareTeacher ? "true" : "false",
            ["family.parallel"] = family.Parallel.ToString(CultureInfo.InvariantCulture),
        });
        familyRun.SetTag(SweepManifest.SweepTag, manifest.Backend);
        familyRun.SetTag(FamilyTag, trials.Count.ToString(CultureInfo.InvariantCulture));
        Console.Error.WriteLine($"family {familyRun.RunId}: {trials.Count} variants of {recipe} ({string.Join(", ", family.Variants.Select(v => v.Name))})" +
            (manifest.Family!.ShareTeacher ? $"; {trials[0].Name} trains the teacher, the others load it" : ""));
        return Continue(parse, store, familyRun, manifest);
    }

    /// <summary>Trains the variants that are not done — the first alone while the others wait for its teacher, when it is
    /// shared — ends the family run, and writes a family manifest for each of its targets. `distill sweep resume` of a
    /// family run comes here too.</summary>
    public static int Continue(ParseResult parse, RunStore store, ITracker familyRun, SweepManifest manifest)
    {
        var settings = manifest.Family!;
        string folder = SweepManifest.Folder(store.Directory, manifest.SweepRunId);
        if (settings.ShareTeacher)
        {
            var first = Result(store, manifest, 0);
            if (!first.Done)
            {
                SweepRunner.Execute(parse, store, familyRun, manifest, [first.Trial], wait: true);
                if (!Result(store, manifest, 0).Finished)
                    return SweepRunner.Finish(parse, store, familyRun, manifest);
            }
            string teacher = $"runs:/{Result(store, manifest, 0).Run!.Id}/{RunExecutor.TeacherArtifact}";
            if (manifest.Trials.Skip(1).Any(t => !t.Values.Any(v => v.Key == "teacher.checkpoint")))
            {
                manifest = manifest with
                {
                    Trials = [manifest.Trials[0], .. manifest.Trials.Skip(1).Select(t => t with { Values = [.. t.Values, new("teacher.train", "null"), new("teacher.checkpoint", teacher)] })],
                };
                Save(manifest, folder, familyRun);
            }
        }
        var pending = SweepResults.Collect(store, manifest).Where(r => !r.Done).Select(r => r.Trial).OrderBy(t => t.Index).ToList();
        if (pending.Count > 0)
            SweepRunner.Execute(parse, store, familyRun, manifest, pending, wait: true);

        int exit = SweepRunner.Finish(parse, store, familyRun, manifest);
        if (exit != ExitCodes.Success)
            return exit;
        string recipeFolder = Path.GetDirectoryName(manifest.Recipe)!;
        foreach (string target in settings.Targets)
            FamilyExport.Write(parse, store, manifest, Recipes.Targets.TargetCatalog.Resolve(target, recipeFolder), settings.WattsPerCore);
        return ExitCodes.Success;
    }

    private static TrialResult Result(RunStore store, SweepManifest manifest, int index) =>
        SweepResults.Collect(store, manifest).Single(r => r.Trial.Index == index);

    private static void Save(SweepManifest manifest, string folder, ITracker familyRun)
    {
        manifest.Save(folder);
        familyRun.LogArtifact(Path.Combine(folder, SweepManifest.FileName));
    }

    /// <summary>The recipe's name and "-family", within the name's length limit.</summary>
    private static string RunName(string recipeName) =>
        recipeName.Length + 7 <= RecipeLimits.RunName.Value ? recipeName + "-family" : recipeName;
}
