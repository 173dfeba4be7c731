namespace Distill.Core.Text;

/// <summary>Maps text to token ids 0..VocabSize-1 and back.</summary>
public interface ITokenizer
{
    /// <summary>"byte" or "char".</summary>
    string Kind { get; }

    int VocabSize { get; }

    /// <summary>Token ids of <paramref name="text"/>. A character the vocabulary lacks is bad input
    /// (<see cref="InvalidInputException"/>); <paramref name="source"/> names where the text came from.</summary>
    int[] Encode(string text, string source);

    /// <summary>Text of a token sequence. Byte tokens that do not form valid UTF-8 (e.g. a sequence cut in
    /// the middle of a character) decode to U+FFFD.</summary>
    string Decode(IEnumerable<int> tokens);

    /// <summary>Number of UTF-8 bytes token <paramref name="token"/> stands for (1 for byte tokens); used to
    /// turn cross-entropy per token into bits per byte.</summary>
    int ByteLength(int token);
}
