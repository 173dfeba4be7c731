namespace Distill.Core;

/// <summary>What an option's value is: the shapes Core's option records take.</summary>
public enum OptionKind { Integer, Number, Boolean, NumberList, Text }

/// <summary>One option of a registry axis (e.g. an optimiser's lr), in Core's own terms, so that the recipe schema,
/// its docs and the option record describe the same key, range and default. The default is read from the option
/// record's own initialiser, so there is one table of defaults.</summary>
/// <param name="Key">The recipe key, e.g. "lr".</param>
/// <param name="Kind">Integer (int), number (double), boolean, a list of numbers, or text (a name).</param>
/// <param name="Default">The record's default: int, double, bool, double[] for a list, string for text ("" when <see cref="Required"/>).</param>
/// <param name="Doc">One line for `distill recipes show --defaults`.</param>
public sealed record OptionSpec(string Key, OptionKind Kind, object Default, string Doc)
{
    /// <summary>The values allowed (of each item, for a list); unbounded when not set.</summary>
    public ValueRange Range { get; init; } = new();

    /// <summary>A list's exact number of items; null = any.</summary>
    public int? Count { get; init; }

    /// <summary>The option must be given (it has no default), e.g. a hint's student_tap.</summary>
    public bool Required { get; init; }

    /// <summary>Throws <see cref="InvalidInputException"/> ("lr must be &gt; 0, got -1") when <paramref name="value"/> is out of range.</summary>
    public void Check(double value)
    {
        if (!Range.Contains(value))
            throw new InvalidInputException($"{Key} must be {Range}, got {ValueRange.Format(value)}.");
    }
}
