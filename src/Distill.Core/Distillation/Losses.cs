namespace Distill.Core.Distillation;

/// <summary>How a loss key sits in a recipe's loss section: one option of the section itself (label_smoothing), a
/// mapping of options (kd: { temperature, alpha }), or a list of such mappings (hints).</summary>
public enum LossKeyShape { Option, Section, List }

/// <summary>One key of the loss section that a term reads, with its options (ranges, defaults, docs): the recipe
/// schema and its docs are built from these, and the term's option record checks its values against them.</summary>
/// <param name="Options">The options of a mapping or of each list item; for <see cref="LossKeyShape.Option"/>, the option itself.</param>
public sealed record LossKey(string Key, LossKeyShape Shape, string Doc, IReadOnlyList<OptionSpec> Options)
{
    /// <summary>Only language models (transformer-lm students) have it.</summary>
    public bool LanguageModelsOnly { get; init; }

    /// <summary>The loss section's own option, e.g. label_smoothing.</summary>
    public static LossKey Option(OptionSpec option)
    {
        ArgumentNullException.ThrowIfNull(option);
        return new(option.Key, LossKeyShape.Option, option.Doc, [option]);
    }

    /// <summary>Throws <see cref="InvalidInputException"/> ("kd.temperature must be &gt; 0, got -1.") when
    /// <paramref name="value"/> is outside the range of <paramref name="option"/>.</summary>
    public void Check(string option, double value)
    {
        var spec = Options.First(o => o.Key == option);
        if (!spec.Range.Contains(value))
            throw new InvalidInputException($"{(Shape == LossKeyShape.Option ? Key : $"{Key}.{option}")} must be {spec.Range}, got {ValueRange.Format(value)}.");
    }
}

/// <summary>One loss term: its name and docs, what it reads (<see cref="LossNeeds"/>), its recipe keys, how it binds
/// its option record from them and how it builds its <see cref="ILossTerm"/> for a student and a teacher.</summary>
public sealed record LossTermEntry(
    string Name,
    string Doc,
    LossNeeds Needs,
    IReadOnlyList<LossKey> Keys,
    Type OptionsType,
    Func<IOptionValues, ILossTermOptions?> Bind,
    Func<ILossTermOptions, LossModel, LossModel?, ILossTerm> Create) : IRegistryEntry
{
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>An entry whose option record is <typeparamref name="TOptions"/>.</summary>
    /// <param name="bind">Reads the record from the loss section's values; null when the term is off (its key absent).</param>
    /// <param name="create">Builds the term for a student and a teacher (null: none); throws <see cref="InvalidInputException"/>
    /// when the models do not offer what it needs (a tap, a teacher).</param>
    public static LossTermEntry For<TOptions>(string name, string doc, LossNeeds needs, IReadOnlyList<LossKey> keys,
        Func<IOptionValues, TOptions?> bind, Func<TOptions, LossModel, LossModel?, ILossTerm> create)
        where TOptions : class, ILossTermOptions =>
        new(name, doc, needs, keys, typeof(TOptions), bind, (options, student, teacher) => create((TOptions)options, student, teacher));

    public LossKey Key(string key) => Keys.First(k => k.Key == key);
}

/// <summary>The loss terms, in the order a <see cref="DistillationLoss"/> folds them into the total. To add one: a
/// file with its option record, its <see cref="ILossTerm"/> and its <see cref="LossTermEntry"/> (see
/// <see cref="KdTerm"/>), and its line here; the recipe schema, its docs, the cross-checks and the binder read this
/// table.</summary>
public static class Losses
{
    public static Registry<LossTermEntry> Registry { get; } = new("loss term",
    [
        CrossEntropyTerm.Entry,
        KdTerm.Entry,
        DkdTerm.Entry,
        HintTerm.Entry,
        AttentionTerm.Entry,
    ]);

    /// <summary>The loss section's keys in recipe order: the terms' mappings and lists in registry order, then the
    /// section's own options (label_smoothing).</summary>
    public static IReadOnlyList<(LossTermEntry Term, LossKey Key)> Keys { get; } =
    [
        .. Registry.Entries.SelectMany(e => e.Keys.Where(k => k.Shape != LossKeyShape.Option).Select(k => (e, k))),
        .. Registry.Entries.SelectMany(e => e.Keys.Where(k => k.Shape == LossKeyShape.Option).Select(k => (e, k))),
    ];

    /// <summary>The loss keys of the terms that need all of <paramref name="needs"/>, in recipe order.</summary>
    public static IReadOnlyList<string> KeysNeeding(LossNeeds needs) =>
        [.. Keys.Where(k => (k.Term.Needs & needs) == needs).Select(k => k.Key.Key)];

    /// <summary>The entry whose option record <paramref name="options"/> is.</summary>
    public static LossTermEntry Of(ILossTermOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Registry.Entries.FirstOrDefault(e => e.OptionsType == options.GetType())
            ?? throw new ArgumentException($"{options.GetType().Name} is not the option record of a registered loss term", nameof(options));
    }

    /// <summary>A stage's loss from its loss section: every term whose keys are there, in registry order.</summary>
    public static LossOptions Bind(IOptionValues loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        return new LossOptions { Terms = [.. Registry.Entries.Select(e => e.Bind(loss)).OfType<ILossTermOptions>()] };
    }
}
