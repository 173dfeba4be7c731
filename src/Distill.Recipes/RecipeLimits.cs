using System.Globalization;
using System.Text;
using Distill.Core.Models;
using Distill.Core.Tracking;

namespace Distill.Recipes;

/// <summary>One size limit: what it applies to, its value and why it is there.</summary>
public sealed record Limit(string Applies, long Value, string Why)
{
    public int Int => checked((int)Value);

    public string Text => Value.ToString("N0", CultureInfo.InvariantCulture);
}

/// <summary>
/// Every size limit a recipe is checked against while it is read, before any data is loaded or any run is
/// created: a recipe beyond one is refused at its line (exit 2). The schema (<see cref="RecipeSchema"/>) takes
/// its ranges and lengths from here, docs/recipes.md lists this table (a test keeps the two identical), and
/// Core applies the same model-size ceiling to every model it builds.
/// </summary>
public static class RecipeLimits
{
    public static Limit FileBytes { get; } = new("recipe file size, bytes", 1 << 20,
        "the shipped recipes are a few KB; a larger file is not a recipe");

    public static Limit Errors { get; } = new("problems reported per recipe", 100,
        "the first ones in file order, then a count of the rest");

    public static Limit ParamValue { get; } = new("characters of any other string, and of a list of numbers or strings written out ([8, 16])",
        TrackingLimits.ParamValueLength, "each is recorded as a run param, and MLflow takes at most 6,000 characters");

    public static Limit Description { get; } = new("characters of description", Math.Min(TrackingLimits.ParamValueLength, TrackingLimits.TagValueLength),
        "it is recorded as a run param (MLflow: at most 6,000) and as the run's note, tag mlflow.note.content (at most 8,000)");

    public static Limit RunName { get; } = new("characters of name (the run's name)", 100,
        "it is part of file and artifact names (at most 255 bytes) and of MLflow run names (at most 250 characters)");

    public static Limit StageName { get; } = new("characters of a stage name", 100,
        "it is part of tag keys (stage.<name>.status), which MLflow limits to 250 characters");

    public static Limit ChosenKey { get; } = new("characters of a key you choose (teacher.outputs.taps)", 100,
        "it is part of a run param's key, which MLflow limits to 250 characters");

    public static Limit ListItems { get; } = new("items of any other list, entries of teacher.outputs.taps", 1000,
        "no recipe needs more; a huge list only uses up memory");

    public static Limit Stages { get; } = new("stages", 100, "each stage is a child run");

    public static Limit ConvBlocks { get; } = new("entries of model.channels (conv blocks)", 64, "model depth");

    public static Limit HiddenLayers { get; } = new("entries of model.hidden (fully connected layers)", 64, "model depth");

    public static Limit Width { get; } = new("model.channels and model.hidden entries, model.d_model", 65536, "layer width");

    public static Limit FeedForward { get; } = new("model.d_ff", 262144, "4 × the largest d_model");

    public static Limit TransformerLayers { get; } = new("model.layers (transformer blocks)", 256, "model depth");

    public static Limit Heads { get; } = new("model.heads", 1024, "attention heads");

    public static Limit KernelSize { get; } = new("model.kernel_size", 15, "conv kernel");

    public static Limit Parameters { get; } = new("parameters of a model (teacher or student), counted from its sizes before it is built",
        ModelLimits.MaxParameters, "400 MB of float32 weights, about 1.6 GB to train with Adam; a layer of 100 million parameters alone takes about a second to initialise");

    public static Limit Epochs { get; } = new("epochs of a stage", 100000, "");

    public static Limit BatchSize { get; } = new("batch_size (a stage's, an ONNX teacher's)", 65536, "one batch's activations must fit in memory");

    public static Limit ImageSide { get; } = new("entries of data.image_shape", 65536, "[channels, height, width] of one sample");

    public static Limit MaxShift { get; } = new("data.augment.max_shift, pixels", 64, "");

    public static Limit Context { get; } = new("data.context, tokens", 8192, "attention is quadratic in the context");

    public static Limit Blocks { get; } = new("data.blocks", 100000, "");

    public static Limit TopK { get; } = new("loss.teacher_cache.top_k", Core.Distillation.KdTerm.MaxCacheTopK, "and at most the vocabulary size");

    public static Limit CalibrationBatches { get; } = new("quantize.calibration_batches", 100000, "");

    public static Limit LatencyRuns { get; } = new("export[].latency_runs", 100000, "");

    public static Limit HistogramBins { get; } = new("quantize.bins", Core.Quantization.Observers.MaxBins, "");

    public static Limit Threads { get; } = new("teacher.threads (ONNX Runtime)", 1024, "");

    /// <summary>The table, in the order docs/recipes.md lists it.</summary>
    public static IReadOnlyList<Limit> All { get; } =
    [
        FileBytes, Errors, Description, RunName, StageName, ChosenKey, ParamValue, Stages, ConvBlocks, HiddenLayers, ListItems,
        Width, FeedForward, TransformerLayers, Heads, KernelSize, Parameters,
        Epochs, BatchSize, ImageSide, MaxShift, Context, Blocks, TopK, CalibrationBatches, LatencyRuns, HistogramBins, Threads,
    ];

    /// <summary>One line per limit: value, what it applies to, why.</summary>
    public static string Describe()
    {
        var text = new StringBuilder();
        int width = All.Max(l => l.Text.Length);
        foreach (var limit in All)
        {
            text.Append(limit.Text.PadLeft(width)).Append("  ").Append(limit.Applies);
            if (limit.Why.Length > 0)
                text.Append(": ").Append(limit.Why);
            text.AppendLine();
        }
        return text.ToString();
    }
}
