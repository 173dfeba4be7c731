namespace Distill.Core.Text;

/// <summary>How a text corpus becomes language-model windows.</summary>
public sealed record TextDataOptions
{
    /// <summary>"byte" (default, 256 tokens, no vocabulary file) or "char" (vocabulary from the corpus).</summary>
    public string Tokenizer { get; init; } = ByteTokenizer.KindName;

    /// <summary>Tokens per window (the model's context length).</summary>
    public int Context { get; init; } = 128;

    /// <summary>Share of every block that goes to validation (its tail), in [0, 0.5].</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>The token stream is cut into this many contiguous blocks; each block's head is training text
    /// and its tail validation text, so validation samples the whole corpus without overlapping training.</summary>
    public int Blocks { get; init; } = 10;

    /// <summary>Distance between window starts; 0 means the context length (non-overlapping windows).</summary>
    public int Stride { get; init; }
}
