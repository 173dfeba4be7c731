using System.Text.Json;

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
}

public static class TrainingCheckpoint
{
    public const string Kind = "training";
    public const string LossSection = "loss";
    public const string OptimizerSection = "optimizer";
    public static string ModelSection(string role) => "model/" + role;

    public static void Write(string path, TrainingCheckpointHeader header, IReadOnlyDictionary<string, byte[]> sections) =>
        CheckpointFile.Write(path, JsonSerializer.Serialize(header, CheckpointFile.Json), sections);

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
