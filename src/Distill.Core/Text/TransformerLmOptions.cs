namespace Distill.Core.Text;

/// <summary>Sizes of a <see cref="TransformerLm"/>.</summary>
public sealed record TransformerLmOptions
{
    public int Layers { get; init; } = 4;
    public int DModel { get; init; } = 128;
    public int Heads { get; init; } = 4;

    /// <summary>Hidden width of the MLP; 0 means 4 · DModel.</summary>
    public int DFF { get; init; }

    /// <summary>Maximum sequence length (learned positions).</summary>
    public int Context { get; init; } = 128;

    public int VocabSize { get; init; } = 256;
    public double Dropout { get; init; }

    public int FeedForward => DFF == 0 ? 4 * DModel : DFF;

    /// <summary>Trainable parameters of a model with these sizes: token and position embeddings (the output
    /// head shares the token embedding), per block two LayerNorms (4d), QKV and output projections
    /// (4d² + 4d) and the MLP (2·d·ff + ff + d), and the final LayerNorm (2d). Saturates at <see cref="long.MaxValue"/>.</summary>
    public long ParameterCount()
    {
        try
        {
            checked
            {
                long d = DModel, ff = FeedForward;
                long perBlock = 4 * d + (4 * d * d + 4 * d) + (2 * d * ff + ff + d);
                return (long)VocabSize * d + (long)Context * d + Layers * perBlock + 2 * d;
            }
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>Throws <see cref="InvalidInputException"/> for sizes no model can have.</summary>
    public void Validate()
    {
        if (Layers < 1 || DModel < 1 || Heads < 1 || Context < 1 || VocabSize < 2 || DFF < 0)
        {
            throw new InvalidInputException(
                $"transformer-lm sizes must be positive (layers {Layers}, d_model {DModel}, heads {Heads}, context {Context}, vocab {VocabSize}, d_ff {DFF}).");
        }
        if (DModel % Heads != 0)
        {
            throw new InvalidInputException($"transformer-lm d_model ({DModel}) must be divisible by heads ({Heads}).");
        }
        if (Dropout is < 0 or >= 1 || double.IsNaN(Dropout))
        {
            throw new InvalidInputException($"transformer-lm dropout must be in [0, 1), got {Dropout}.");
        }
        Models.ModelLimits.Check(ParameterCount(),
            $"a transformer-lm with layers {Layers}, d_model {DModel}, d_ff {FeedForward}, context {Context} and {VocabSize} tokens");
    }
}
