using System.Text;

namespace Distill.Core.Text;

/// <summary>One token per Unicode character (code point), with a vocabulary built from the training text:
/// the distinct characters in ordinal order. The vocabulary must be saved with the model
/// (<see cref="TokenizerFile"/>).</summary>
public sealed class CharTokenizer : ITokenizer
{
    public const string KindName = "char";

    private readonly string[] _symbols;
    private readonly Dictionary<string, int> _ids;
    private readonly int[] _byteLengths;

    /// <summary>A tokenizer over exactly these symbols (each one code point), token id = position.</summary>
    public CharTokenizer(IReadOnlyList<string> symbols)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        if (symbols.Count == 0)
        {
            throw new ArgumentException("A character vocabulary needs at least one symbol.", nameof(symbols));
        }
        _symbols = symbols.ToArray();
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _symbols.Length; i++)
        {
            var symbol = _symbols[i];
            if (symbol.EnumerateRunes().Count() != 1)
            {
                throw new ArgumentException($"Vocabulary entry {i} is not one character: \"{symbol}\".", nameof(symbols));
            }
            if (!_ids.TryAdd(symbol, i))
            {
                throw new ArgumentException($"Vocabulary entry {i} repeats \"{symbol}\".", nameof(symbols));
            }
        }
        _byteLengths = _symbols.Select(s => Encoding.UTF8.GetByteCount(s)).ToArray();
    }

    /// <summary>The distinct characters of <paramref name="text"/>, ordered by code point.</summary>
    public static CharTokenizer FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var symbols = text.EnumerateRunes().Select(r => r.Value).Distinct().Order()
            .Select(v => new Rune(v).ToString()).ToList();
        return new CharTokenizer(symbols);
    }

    public string Kind => KindName;

    public int VocabSize => _symbols.Length;

    /// <summary>Symbol of each token id, in id order.</summary>
    public IReadOnlyList<string> Symbols => _symbols;

    public int[] Encode(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<int>(text.Length);
        int position = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            var symbol = rune.ToString();
            if (!_ids.TryGetValue(symbol, out int id))
            {
                throw new InvalidInputException(
                    $"{source}: character {Describe(rune)} at character {position} is not in the model's character vocabulary ({VocabSize} characters).");
            }
            tokens.Add(id);
            position++;
        }
        return tokens.ToArray();
    }

    public string Decode(IEnumerable<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var text = new StringBuilder();
        foreach (int t in tokens)
        {
            if (t < 0 || t >= _symbols.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"A char token must be in 0..{_symbols.Length - 1}.");
            }
            text.Append(_symbols[t]);
        }
        return text.ToString();
    }

    public int ByteLength(int token) => _byteLengths[token];

    private static string Describe(Rune rune) =>
        Rune.IsControl(rune) ? $"U+{rune.Value:X4}" : $"'{rune}' (U+{rune.Value:X4})";
}
