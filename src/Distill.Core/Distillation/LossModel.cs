using Distill.Core.Models;
using Distill.Core.Text;

namespace Distill.Core.Distillation;

/// <summary>What a loss term may ask of a model (student or teacher) when it is built: its taps with their shapes,
/// its attention blocks and its vocabulary. A classifier's taps are per sample ([C, H, W] or [features]); a language
/// model's hidden states are per position (<see cref="PerPosition"/>: [d_model] of a [B, T, d_model] tensor).</summary>
public sealed record LossModel
{
    /// <summary>Names the model in error messages, e.g. "cnn", "transformer-lm" or "ONNX model '/path/teacher.onnx'".</summary>
    public required string Description { get; init; }

    /// <summary>The taps (hidden states) the model can return.</summary>
    public IReadOnlyList<string> Taps { get; init; } = [];

    /// <summary>A tap's shape per sample (per position when <see cref="PerPosition"/>).</summary>
    public Func<string, long[]> TapShape { get; init; } = tap => throw new InvalidInputException($"'{tap}' is not a tap");

    /// <summary>Blocks whose attention maps the model can return (language models).</summary>
    public IReadOnlyList<string> AttentionBlocks { get; init; } = [];

    /// <summary>A sequence model: outputs are [B, T, ...] and terms average over the B·T positions.</summary>
    public bool PerPosition { get; init; }

    /// <summary>A language model's vocabulary; null for classifiers (their class counts are checked when the data and
    /// models load).</summary>
    public int? Vocabulary { get; init; }

    /// <summary>The model gives its logits and nothing else (an ONNX language model): no taps, no attention.</summary>
    public bool LogitsOnly { get; init; }

    /// <summary>A classifier: a zoo model or an ONNX teacher with its declared taps.</summary>
    public static LossModel Of(ITeacher model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new LossModel { Description = model.Description, Taps = model.TapNames, TapShape = model.TapShape };
    }

    /// <summary>A transformer language model of these sizes: hidden states embed, block0…, final, each [d_model] per
    /// position, and attention maps of block0….</summary>
    public static LossModel Of(TransformerLmOptions model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var blocks = Enumerable.Range(0, model.Layers).Select(TransformerLm.BlockName).ToList();
        return new LossModel
        {
            Description = Architectures.NameOf(ModelArch.TransformerLm),
            Taps = [TransformerLm.EmbeddingName, .. blocks, TransformerLm.FinalName],
            TapShape = _ => [model.DModel],
            AttentionBlocks = blocks,
            PerPosition = true,
            Vocabulary = model.VocabSize,
        };
    }

    /// <summary>A language model known by its logits alone (<see cref="OnnxLmTeacher"/>).</summary>
    public static LossModel LogitsOf(string description, int vocabulary) =>
        new() { Description = description, PerPosition = true, Vocabulary = vocabulary, LogitsOnly = true };
}
