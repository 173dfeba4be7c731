using System.CommandLine;
using System.Globalization;
using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;
using Distill.Recipes;

namespace Distill.Cli.Commands.Sweep;

/// <summary>`distill sweep`: expands a search space into trials, records a sweep run with one child run per trial, and
/// runs the trials on this machine or as a Slurm job array; `sweep show` and `sweep resume` read it back.</summary>
public static class SweepCommand
{
    private static readonly Argument<string> Recipe = new("recipe") { Description = "Recipe file (YAML); its sweep: section is the default search space" };

    private static readonly Option<string[]> Grid = new("--grid")
    {
        Description = "A recipe key and the values to try, e.g. --grid stages[0].loss.kd.temperature=2,4,8 (repeatable; every combination is a trial)",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string[]> RandomKeys = new("--random")
    {
        Description = "A recipe key and a distribution to draw it from: uniform(a,b), loguniform(a,b) or choice(v1,v2,...) (repeatable; needs --trials)",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<int?> Trials = new("--trials") { Description = "Random draws (each combined with every grid point)" };
    private static readonly Option<int?> Seed = new("--seed") { Description = "Seed of the random draws (default: the recipe's sweep.seed, else 0)" };
    private static readonly Option<string?> Metric = new("--metric") { Description = "Metric the trials are ranked by (default: the recipe's sweep.metric, else student/test_acc)" };
    private static readonly Option<string?> Mode = new("--mode") { Description = "max or min: which way the metric is better (default: max)" };
    private static readonly Option<string> Backend = new("--backend") { Description = "local: processes on this machine; slurm: a job array submitted with sbatch", DefaultValueFactory = _ => "local" };
    private static readonly Option<int?> Parallel = new("--parallel") { Description = "Trials at once (default: the recipe's sweep.parallel, else 1)" };
    private static readonly Option<string?> EarlyStop = new("--early-stop") { Description = "asha: stop trials whose per-epoch validation metric falls behind (asynchronous successive halving; local backend only)" };
    private static readonly Option<string> EarlyStopMetric = new("--early-stop-metric") { Description = "The per-epoch metric ASHA compares (loss, bpb and perplexity: smaller is better)", DefaultValueFactory = _ => "val/acc" };
    private static readonly Option<int> AshaGrace = new("--asha-grace") { Description = "ASHA's first rung: epochs every trial runs before it can be stopped", DefaultValueFactory = _ => 1 };
    private static readonly Option<int> AshaReduction = new("--asha-reduction") { Description = "ASHA's reduction factor η: rungs at grace·η^k epochs, the top 1/η go on at each", DefaultValueFactory = _ => 3 };
    private static readonly Option<bool> Wait = new("--wait") { Description = "slurm: follow the job until every task ends, then merge the trials' stores and show the ranking" };
    private static readonly Option<int?> Cpus = new("--cpus-per-task") { Description = "slurm: CPUs per array task (default: the recipe's sweep.slurm.cpus_per_task)" };
    private static readonly Option<string?> Memory = new("--mem") { Description = "slurm: memory per array task, e.g. 4G (default: sweep.slurm.mem)" };
    private static readonly Option<string?> Time = new("--time") { Description = "slurm: time limit per array task, e.g. 01:00:00 (default: sweep.slurm.time)" };
    private static readonly Option<string?> Partition = new("--partition") { Description = "slurm: partition (default: sweep.slurm.partition)" };
    private static readonly Option<string?> Account = new("--account") { Description = "slurm: account (default: sweep.slurm.account)" };

    public static Command Create()
    {
        var sweep = new Command("sweep", "Try a recipe over a search space: one child run per trial under a sweep run, on local processes or a Slurm job array.")
        {
            Recipe, Grid, RandomKeys, Trials, Seed, Metric, Mode, Backend, Parallel, EarlyStop, EarlyStopMetric, AshaGrace, AshaReduction,
            Wait, Cpus, Memory, Time, Partition, Account,
        };
        sweep.SetAction(Execute);
        sweep.Subcommands.Add(SweepShowCommand.Create());
        sweep.Subcommands.Add(SweepResumeCommand.Create());
        return sweep;
    }

    private static int Execute(ParseResult parse)
    {
        string recipe = Path.GetFullPath(parse.GetValue(Recipe)!);
        string backend = parse.GetValue(Backend)!;
        if (backend is not ("local" or "slurm"))
            throw new InvalidInputException($"--backend must be local or slurm, got '{backend}'{Suggest.DidYouMean(backend, ["local", "slurm"])}");
        if (parse.GetValue(Parallel) is < 1 and var badParallel)
            throw new InvalidInputException($"--parallel must be at least 1, got {badParallel}");
        if (parse.GetValue(Mode) is { } mode && mode is not ("max" or "min"))
            throw new InvalidInputException($"--mode must be max or min, got '{mode}'");
        var earlyStop = EarlyStopSettingsOf(parse, backend);
        if (backend == "slurm")
            SlurmBackend.RequireSlurm();

        var references = GlobalOptions.References(parse);
        var plan = RecipeLoader.Load(recipe, references: references);
        var settings = plan.Sweep ?? new SweepSettings();
        var manifest = Manifest(parse, recipe, backend, settings, references);

        var recipeStore = plan.Tracking.Store is { } s ? Path.Combine(plan.BaseDirectory, s) : null;
        using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse, recipeStore));
        using var sweepRun = store.StartRun(plan.Tracking.Experiment, SweepRunName(plan.Name));
        manifest = manifest with { SweepRunId = sweepRun.RunId, EarlyStop = earlyStop };
        string folder = SweepManifest.Folder(store.Directory, sweepRun.RunId);
        manifest.Save(folder);
        sweepRun.LogParams(SweepParams(manifest));
        sweepRun.SetTag(SweepManifest.SweepTag, backend);
        sweepRun.LogArtifact(Path.Combine(folder, SweepManifest.FileName));
        Console.Error.WriteLine($"sweep {sweepRun.RunId}: {manifest.Trials.Count} trial(s) of {recipe}, {backend} backend, at most {manifest.Parallel} at once");
        return SweepRunner.Run(parse, store, sweepRun, manifest, manifest.Trials, parse.GetValue(Wait));
    }

    private static EarlyStopSettings? EarlyStopSettingsOf(ParseResult parse, string backend)
    {
        if (parse.GetValue(EarlyStop) is not { } method)
            return null;
        if (method != "asha")
            throw new InvalidInputException($"--early-stop: the only method is asha, got '{method}'");
        if (backend != "local")
            throw new InvalidInputException("--early-stop asha works with the local backend only: the Slurm backend's tasks write their own stores, which the sweep does not watch while they run");
        int grace = parse.GetValue(AshaGrace), reduction = parse.GetValue(AshaReduction);
        if (grace < 1)
            throw new InvalidInputException($"--asha-grace must be at least 1 epoch, got {grace}");
        if (reduction < 2)
            throw new InvalidInputException($"--asha-reduction must be at least 2, got {reduction}");
        return new EarlyStopSettings(parse.GetValue(EarlyStopMetric)!, grace, reduction);
    }

    /// <summary>A run name the sweep run can have: the recipe's name and "-sweep", within the name's length limit.</summary>
    private static string SweepRunName(string recipeName) =>
        recipeName.Length + 6 <= RecipeLimits.RunName.Value ? recipeName + "-sweep" : recipeName;

    private static SweepManifest Manifest(ParseResult parse, string recipe, string backend, SweepSettings settings, RunReferenceLookup references)
    {
        var grids = (parse.GetValue(Grid) ?? []).Select(SweepSpace.ParseGrid).ToList();
        var randoms = (parse.GetValue(RandomKeys) ?? []).Select(SweepSpace.ParseRandom).ToList();
        // The command line's space replaces the recipe's as a whole: a mix of both would be hard to read back.
        bool fromCommandLine = grids.Count > 0 || randoms.Count > 0;
        if (!fromCommandLine)
        {
            grids = [.. settings.Grid];
            randoms = [.. settings.Random];
        }
        int? trials = parse.GetValue(Trials) ?? (fromCommandLine ? null : settings.Trials);
        if (randoms.Count > 0 && trials is null)
            throw new InvalidInputException("--random needs --trials N: how many values to draw");
        if (randoms.Count == 0 && parse.GetValue(Trials) is not null)
            throw new InvalidInputException("--trials counts random draws; give --random key=distribution with it (a grid runs every combination)");
        var space = new SearchSpace(grids, randoms, trials ?? 1, parse.GetValue(Seed) ?? settings.Seed);
        var expanded = space.Expand();
        SweepSpace.Check(recipe, expanded, grids.Select(g => g.Key).ToHashSet(),
            fromCommandLine ? new HashSet<string>() : grids.Select(g => g.Key).Concat(randoms.Select(r => r.Key)).ToHashSet(), references);
        return new SweepManifest
        {
            SweepRunId = "",
            Recipe = recipe,
            Backend = backend,
            Metric = parse.GetValue(Metric) ?? settings.Metric,
            Mode = parse.GetValue(Mode) ?? settings.Mode,
            Parallel = parse.GetValue(Parallel) ?? settings.Parallel,
            Space = space,
            Trials = expanded,
            Slurm = new SlurmOptions
            {
                CpusPerTask = parse.GetValue(Cpus) ?? settings.Slurm.CpusPerTask,
                Memory = parse.GetValue(Memory) ?? settings.Slurm.Memory,
                Time = parse.GetValue(Time) ?? settings.Slurm.Time,
                Partition = parse.GetValue(Partition) ?? settings.Slurm.Partition,
                Account = parse.GetValue(Account) ?? settings.Slurm.Account,
            },
        };
    }

    /// <summary>The sweep run's params: how it runs and what it tries (each key as a param, its values or distribution as the value).</summary>
    private static Dictionary<string, string> SweepParams(SweepManifest manifest)
    {
        var parameters = new Dictionary<string, string>
        {
            ["sweep.recipe"] = manifest.Recipe,
            ["sweep.backend"] = manifest.Backend,
            ["sweep.metric"] = manifest.Metric,
            ["sweep.mode"] = manifest.Mode,
            ["sweep.parallel"] = manifest.Parallel.ToString(CultureInfo.InvariantCulture),
            ["sweep.trials"] = manifest.Trials.Count.ToString(CultureInfo.InvariantCulture),
            ["sweep.seed"] = manifest.Space.Seed.ToString(CultureInfo.InvariantCulture),
        };
        if (manifest.EarlyStop is { } early)
        {
            parameters["sweep.early_stop"] = "asha";
            parameters["sweep.early_stop.metric"] = early.Metric;
            parameters["sweep.early_stop.grace_epochs"] = early.GraceEpochs.ToString(CultureInfo.InvariantCulture);
            parameters["sweep.early_stop.reduction"] = early.Reduction.ToString(CultureInfo.InvariantCulture);
        }
        foreach (var axis in manifest.Space.Grid)
            parameters[$"sweep.grid.{ParamKeys.FromRecipePath(axis.Key)}"] = string.Join(",", axis.Values);
        foreach (var axis in manifest.Space.Random)
            parameters[$"sweep.random.{ParamKeys.FromRecipePath(axis.Key)}"] = axis.Distribution.ToString();
        return parameters;
    }
}
