using System.Text.Json;
using System.Text.Json.Serialization;

namespace Distill.Core.Sweeps;

/// <summary>Slurm settings of a sweep: what its job array asks for. Null = the cluster's default.</summary>
public sealed record SlurmOptions
{
    public int? CpusPerTask { get; init; }
    /// <summary>As sbatch takes it, e.g. 4G.</summary>
    public string? Memory { get; init; }
    /// <summary>As sbatch takes it, e.g. 01:00:00.</summary>
    public string? Time { get; init; }
    public string? Partition { get; init; }
    public string? Account { get; init; }
}

/// <summary>ASHA early stopping of a local sweep (see <see cref="Asha"/>): on this per-epoch metric of each trial's run.</summary>
public sealed record EarlyStopSettings(string Metric = "val/acc", int GraceEpochs = 1, int Reduction = 3)
{
    /// <summary>Tag of a trial's run that ASHA stopped: why.</summary>
    public const string Tag = "distill.sweep.early_stop";

    /// <summary>Losses, bits per byte and perplexity are better when smaller; anything else (accuracy) when larger.</summary>
    public bool Maximize => Metric.Split('/')[^1] is not ("loss" or "bpb" or "perplexity");
}

/// <summary>What a family run (a recipe's family: section) adds to its sweep manifest: whether the first variant's teacher
/// is loaded by the others, and the ONNX targets (names, or profile files as full paths) its family manifests are for.</summary>
public sealed record FamilyRunSettings(bool ShareTeacher, IReadOnlyList<string> Targets, double WattsPerCore);

/// <summary>
/// Everything needed to run, resume and show a sweep, written to &lt;store&gt;/sweeps/&lt;sweep id&gt;/sweep.json when it
/// starts (and kept as an artifact of the sweep run).
/// </summary>
public sealed record SweepManifest
{
    public const string FileName = "sweep.json";

    /// <summary>Tag of the sweep run (value: the backend) and of every trial run (value: the sweep run's id).</summary>
    public const string SweepTag = "distill.sweep";
    /// <summary>Tag of a trial run: its index in the sweep.</summary>
    public const string TrialTag = "distill.sweep.trial";

    public required string SweepRunId { get; init; }
    /// <summary>The recipe file, as a full path.</summary>
    public required string Recipe { get; init; }
    public required string Backend { get; init; }
    public required string Metric { get; init; }
    /// <summary>"max" or "min": which way the metric is better.</summary>
    public required string Mode { get; init; }
    public required int Parallel { get; init; }
    public required SearchSpace Space { get; init; }
    public required IReadOnlyList<SweepTrial> Trials { get; init; }
    public SlurmOptions Slurm { get; init; } = new();
    /// <summary>ASHA early stopping (local backend); null = every trial runs to its end.</summary>
    public EarlyStopSettings? EarlyStop { get; init; }
    /// <summary>Set when the sweep is a family run; null for a sweep.</summary>
    public FamilyRunSettings? Family { get; init; }
    /// <summary>Slurm job ids this sweep submitted, oldest first.</summary>
    public IReadOnlyList<string> SlurmJobs { get; init; } = [];

    public bool Maximize => Mode == "max";

    /// <summary>&lt;store&gt;/sweeps/&lt;sweep id&gt;.</summary>
    public static string Folder(string storeDirectory, string sweepRunId) => Path.Combine(storeDirectory, "sweeps", sweepRunId);

    /// <summary>The store a Slurm task of trial <paramref name="index"/> writes: &lt;sweep folder&gt;/trials/&lt;index&gt;/store.</summary>
    public static string TrialStore(string sweepFolder, int index) =>
        Path.Combine(sweepFolder, "trials", index.ToString(System.Globalization.CultureInfo.InvariantCulture), "store");

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        AtomicFile.WriteText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, Json));
    }

    public static SweepManifest Load(string folder)
    {
        string path = Path.Combine(folder, FileName);
        try
        {
            return JsonSerializer.Deserialize<SweepManifest>(File.ReadAllText(path), Json)
                ?? throw new InvalidInputException($"{path}: empty sweep description");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read the sweep's description: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not a sweep description Distill can read: {e.Message}", e);
        }
    }
}
