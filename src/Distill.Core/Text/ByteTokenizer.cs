using System.Text;

namespace Distill.Core.Text;

/// <summary>One token per UTF-8 byte: 256 tokens, no vocabulary file. Any text can be encoded.</summary>
public sealed class ByteTokenizer : ITokenizer
{
    public const string KindName = "byte";

    public static ByteTokenizer Instance { get; } = new();

    public string Kind => KindName;

    public int VocabSize => 256;

    public int[] Encode(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            tokens[i] = bytes[i];
        }
        return tokens;
    }

    public string Decode(IEnumerable<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var bytes = tokens.Select(t => t is >= 0 and < 256
            ? (byte)t
            : throw new ArgumentOutOfRangeException(nameof(tokens), t, "A byte token must be in 0..255.")).ToArray();
        return Encoding.UTF8.GetString(bytes);
    }

    public int ByteLength(int token) => 1;
}
