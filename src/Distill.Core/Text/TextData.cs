namespace Distill.Core.Text;

/// <summary>A corpus tokenised and split into training and validation windows.</summary>
public sealed class TextData : IDisposable
{
    private TextData(TextCorpus corpus, ITokenizer tokenizer, TokenWindows train, TokenWindows validation)
    {
        Corpus = corpus;
        Tokenizer = tokenizer;
        Train = train;
        Validation = validation;
    }

    public TextCorpus Corpus { get; }
    public ITokenizer Tokenizer { get; }
    public TokenWindows Train { get; }
    public TokenWindows Validation { get; }

    /// <summary>Reads <paramref name="path"/> (<see cref="TextCorpus.Load"/>) and makes windows. Pass the
    /// tokenizer saved with a model to evaluate or distil it on the same tokens; otherwise one is made from
    /// <see cref="TextDataOptions.Tokenizer"/> (a char vocabulary from the whole corpus file, so that a
    /// character seen only in the validation part still has a token).</summary>
    public static TextData Load(string path, TextDataOptions options, ITokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var corpus = TextCorpus.Load(path);
        tokenizer ??= options.Tokenizer == CharTokenizer.KindName
            ? CharTokenizer.FromText(corpus.Text)
            : ByteTokenizer.Instance;
        var tokens = tokenizer.Encode(corpus.Text, path);
        var (trainSegments, validationSegments) = SplitBlocks(tokens, options.Blocks, options.ValidationFraction);
        int stride = options.Stride == 0 ? options.Context : options.Stride;
        var train = TokenWindows.FromSegments(trainSegments, options.Context, stride);
        var validation = TokenWindows.FromSegments(validationSegments, options.Context, stride);
        if (train.Count == 0 || (options.ValidationFraction > 0 && validation.Count == 0))
        {
            string missing = train.Count == 0 ? "training" : "validation";
            train.Dispose();
            validation.Dispose();
            throw new InvalidInputException(
                $"{path}: text corpus too short: {tokens.Length} tokens in {options.Blocks} blocks leave no "
                + $"{missing} window of {options.Context + 1} tokens; "
                + "use fewer blocks, a shorter context or a longer text");
        }
        return new TextData(corpus, tokenizer, train, validation);
    }

    /// <summary>The same corpus with at most <paramref name="maxTrain"/> training and <paramref name="maxValidation"/>
    /// validation windows (null = all), spread evenly over the corpus (<see cref="TokenWindows.Spread"/>). The copy
    /// owns its windows; this object keeps its own.</summary>
    public TextData Limit(long? maxTrain, long? maxValidation) =>
        new(Corpus, Tokenizer, Train.Spread(maxTrain ?? Train.Count), Validation.Count == 0 ? Validation.Subset(0, 0) : Validation.Spread(maxValidation ?? Validation.Count));

    /// <summary>Cuts <paramref name="tokens"/> into <paramref name="blocks"/> contiguous blocks of (nearly) equal
    /// length; the last round(length · fraction) tokens of each block are validation, the rest training.</summary>
    public static (List<int[]> Train, List<int[]> Validation) SplitBlocks(int[] tokens, int blocks, double validationFraction)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(blocks, 1);
        var train = new List<int[]>();
        var validation = new List<int[]>();
        for (int b = 0; b < blocks; b++)
        {
            int start = (int)((long)tokens.Length * b / blocks);
            int end = (int)((long)tokens.Length * (b + 1) / blocks);
            int validationLength = (int)Math.Round((end - start) * validationFraction);
            int split = end - validationLength;
            train.Add(tokens[start..split]);
            if (validationLength > 0)
            {
                validation.Add(tokens[split..end]);
            }
        }
        return (train, validation);
    }

    private static void Validate(TextDataOptions options)
    {
        if (options.Tokenizer is not (ByteTokenizer.KindName or CharTokenizer.KindName))
        {
            throw new InvalidInputException($"Text tokenizer must be \"byte\" or \"char\", got \"{options.Tokenizer}\".");
        }
        if (options.Context < 1)
        {
            throw new InvalidInputException($"Text context must be at least 1 token, got {options.Context}.");
        }
        if (options.ValidationFraction is < 0 or > 0.5 || double.IsNaN(options.ValidationFraction))
        {
            throw new InvalidInputException($"Text validation fraction must be in [0, 0.5], got {options.ValidationFraction}.");
        }
        if (options.Blocks < 1)
        {
            throw new InvalidInputException($"Text blocks must be at least 1, got {options.Blocks}.");
        }
        if (options.Stride < 0)
        {
            throw new InvalidInputException($"Text stride must be 0 (= context) or positive, got {options.Stride}.");
        }
    }

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
    }
}
