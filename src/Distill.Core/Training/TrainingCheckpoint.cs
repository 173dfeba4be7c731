using System.Text.Json;
using Distill.Core.Tracking;

namespace Distill.Core.Training;

/// <summary>Everything needed to continue a run after its last completed epoch: the weights of every
/// model, the loss adapters and optimiser of the current phase, and where the phase stands. Random
/// state is not saved: each epoch reseeds from the run seed (<see cref="StageTrainer.EpochSeed"/>).</summary>
public sealed record TrainingCheckpointHeader
{
    public string Kind { get; init; } = TrainingCheckpoint.Kind;
    public required string RunId { get; init; }
    public required int PhaseIndex { get; init; }
    public required string PhaseName { get; init; }
    public required PhaseState Phase { get; init; }
    public required string DataFingerprint { get; init; }
    public required Dictionary<string, ModelDescriptor> Models { get; init; }
    public Dictionary<string, double> WallSeconds { get; init; } = [];

    /// <summary>How the training energy was obtained (<see cref="TrainingEnergy.Method"/>); null when none was
    /// recorded (checkpoints written before Distill recorded it, or a run whose method could not be kept).</summary>
    public string? EnergyMethod { get; init; }

    /// <summary>Joules of training per phase name up to this checkpoint, continued by a resumed run.</summary>
    public Dictionary<string, double>? EnergyJoules { get; init; }

    /// <summary>Metric points the run and each of its child runs had when the checkpoint was written, by run id
    /// (<see cref="RunStore.MetricCounts"/>); null in checkpoints written before Distill recorded them.</summary>
    public Dictionary<string, long>? MetricCounts { get; init; }
}

public static class TrainingCheckpoint
{
    public const string Kind = "training";
    public const string LossSection = "loss";
    public const string OptimizerSection = "optimizer";
    public static string ModelSection(string role) => "model/" + role;

    public static void Write(string path, TrainingCheckpointHeader header, IReadOnlyDictionary<string, byte[]> sections) =>
        CheckpointFile.Write(path, JsonSerializer.Serialize(header, CheckpointFile.Json), sections);

    /// <summary>
    /// Writes the checkpoint of a tracked run. The metrics logged so far are committed first (through
    /// <paramref name="tracker"/>, which must reach the run and the current phase's child run) and counted into
    /// the header, so that the checkpoint never runs ahead of the metrics and a resume knows which points to drop.
    /// </summary>
    public static void Save(RunStore store, ITracker tracker, string path, TrainingCheckpointHeader header,
        IReadOnlyDictionary<string, byte[]> sections)
    {
        tracker.Flush();
        var counts = store.MetricCounts(tracker.RunId);
        Write(path, header with { MetricCounts = new Dictionary<string, long>(counts) }, sections);
    }

    /// <summary>
    /// Readies a run resumed from a checkpoint with <paramref name="header"/>, once this process owns it: deletes
    /// the temporary checkpoint files that killed writes left in the run's folder, and drops the metric points
    /// logged after the checkpoint (the redone epochs log them again), so that the history ends as an
    /// uninterrupted run's. Returns the number of points dropped.
    /// </summary>
    public static long PrepareResume(RunStore store, ITracker run, TrainingCheckpointHeader header)
    {
        CheckpointFile.DeleteTemporaryFiles(run.ArtifactDirectory);
        return header.MetricCounts is { } counts ? store.TruncateMetrics(run.RunId, counts) : 0;
    }

    public static (TrainingCheckpointHeader Header, Dictionary<string, byte[]> Sections) Read(string path)
    {
        var (json, sections) = CheckpointFile.Read(path);
        TrainingCheckpointHeader? header;
        try
        {
            header = JsonSerializer.Deserialize<TrainingCheckpointHeader>(json, CheckpointFile.Json);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: checkpoint header is not valid: {e.Message}", e);
        }
        if (header is null || header.Kind != Kind)
            throw new InvalidInputException($"{path}: not a training checkpoint (kind '{header?.Kind}')");
        return (header, sections);
    }

    public static byte[] OptimizerBytes(TorchSharp.torch.optim.Optimizer optimizer)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(writer);
        return stream.ToArray();
    }

    public static void LoadOptimizer(string path, TorchSharp.torch.optim.Optimizer optimizer, byte[] bytes)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes));
            ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(reader);
        }
        catch (Exception e) when (e is not InvalidInputException)
        {
            throw new InvalidInputException($"{path}: optimiser state does not fit the stage's optimiser: {e.Message}", e);
        }
    }
}
