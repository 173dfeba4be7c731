using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>The sweep: section: what `distill sweep` tries, and how its trials run.</summary>
public static partial class RecipeSchema
{
    private static readonly ScalarSchema SlurmText = new() { Kind = ScalarKind.String, MaxLength = new Limit("characters of a Slurm setting", 200, "") };

    private static MapSchema Sweep() => new()
    {
        Fields =
        [
            new()
            {
                Key = "grid",
                Schema = new MapSchema { Fields = [], AnyKey = new ListSchema { Item = Text, MinCount = 1 } },
                Doc = "Recipe key (as --set writes it, e.g. stages[0].loss.kd.temperature) to the values tried, e.g. { seed: [1, 2] }; a list value is written as a string, e.g. \"[16, 32]\"; every combination is a trial",
            },
            new()
            {
                Key = "random",
                Schema = new MapSchema { Fields = [], AnyKey = Text },
                Doc = "Recipe key to the distribution its value is drawn from, once per draw (see trials): uniform(a,b), loguniform(a,b) or choice(v1,v2,...)",
            },
            new() { Key = "trials", Schema = Int(1, Core.Sweeps.SearchSpace.MaxTrials), Doc = "Draws of the random keys (each combined with every grid point); required with random" },
            new() { Key = "seed", Schema = Int(0, int.MaxValue), Default = 0L, Doc = "Seed of the random draws" },
            new() { Key = "metric", Schema = Text, Default = Core.Sweeps.SweepSettings.DefaultMetric, Doc = "Metric of a trial's run the trials are ranked by" },
            new() { Key = "mode", Schema = Enum("max", "min"), Default = "max", Doc = "max: a larger metric is better; min: a smaller one" },
            new() { Key = "parallel", Schema = Int(1, 1000), Default = 1L, Doc = "Trials run at once (local: processes sharing the cores; slurm: the %K of the job array)" },
            new()
            {
                Key = "slurm",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        new() { Key = "cpus_per_task", Schema = Int(1, 100000), Doc = "CPUs of each array task (sbatch --cpus-per-task); the trial trains with as many threads" },
                        new() { Key = "mem", Schema = SlurmText, Doc = "Memory of each array task, as sbatch --mem takes it (e.g. 4G)" },
                        new() { Key = "time", Schema = SlurmText, Doc = "Time limit of each array task, as sbatch --time takes it (e.g. 01:00:00)" },
                        new() { Key = "partition", Schema = SlurmText, Doc = "Partition the job array is submitted to (sbatch --partition)" },
                        new() { Key = "account", Schema = SlurmText, Doc = "Account the job array is charged to (sbatch --account)" },
                    ],
                },
                DefaultEmpty = true,
                Doc = "What each task of a --backend slurm sweep asks for; absent keys leave the cluster's defaults",
            },
        ],
    };
}
