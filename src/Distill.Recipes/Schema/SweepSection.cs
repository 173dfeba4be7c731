using Distill.Core.Sweeps;

namespace Distill.Recipes.Schema;

/// <summary>Checks the distributions of the sweep: section at their lines, and binds the section to Core's <see cref="SweepSettings"/>.</summary>
internal static class SweepSection
{
    public static void Check(MapValue root, List<RecipeError> errors)
    {
        if (root.Map("sweep")?.Map("random") is not { } random)
            return;
        foreach (var entry in random.Entries)
        {
            if (entry.Value is not ScalarValue { Raw: string text } value)
                continue;
            try
            {
                Distribution.Parse(text);
            }
            catch (FormatException e)
            {
                errors.Add(value.At.Error($"sweep.random.{entry.Key}: {e.Message}"));
            }
        }
    }

    public static SweepSettings? Bind(MapValue root)
    {
        if (root.Map("sweep") is not { } sweep)
            return null;
        var slurm = sweep.Map("slurm");
        return new SweepSettings
        {
            Grid = sweep.Map("grid")?.Entries
                .Select(e => new GridAxis(e.Key, ((ListValue)e.Value).Items.Select(i => (string)((ScalarValue)i).Raw).ToList()))
                .ToList() ?? [],
            Random = sweep.Map("random")?.Entries
                .Select(e => new RandomAxis(e.Key, Distribution.Parse((string)((ScalarValue)e.Value).Raw)))
                .ToList() ?? [],
            Trials = sweep.Raw("trials") is long trials ? (int)trials : null,
            Seed = (int)(long)sweep.Raw("seed")!,
            Metric = sweep.Str("metric")!,
            Mode = sweep.Str("mode")!,
            Parallel = (int)(long)sweep.Raw("parallel")!,
            Slurm = new SlurmOptions
            {
                CpusPerTask = slurm?.Raw("cpus_per_task") is long cpus ? (int)cpus : null,
                Memory = slurm?.Str("mem"),
                Time = slurm?.Str("time"),
                Partition = slurm?.Str("partition"),
                Account = slurm?.Str("account"),
            },
        };
    }
}
