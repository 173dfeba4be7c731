namespace Distill.Core.Quantization;

/// <summary>A stage's quantize section. A stage with epochs trains with fake-quantisation in the loop
/// (QAT); a stage with no epochs calibrates instead (post-training quantisation on
/// <see cref="CalibrationBatches"/> batches of the training split). Quantisation stays on for the rest
/// of the run.</summary>
public sealed record QuantizeOptions
{
    public QuantConfig Config { get; init; } = new();
    public int CalibrationBatches { get; init; } = 16;
    /// <summary>Choose per layer between the integer scheme and float to meet this target (null: as configured).</summary>
    public MixedPrecisionTarget? Auto { get; init; }
    /// <summary>Where the section is in the recipe (file:line:column), for error messages.</summary>
    public string? Where { get; init; }
}
