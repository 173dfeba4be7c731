using System.Globalization;
using System.Text.Json.Serialization;

namespace Distill.Core.Sweeps;

/// <summary>How a random axis draws its value: uniform(a,b), loguniform(a,b) (uniform in log space, 0 &lt; a) or
/// choice(v1,v2,…). Numbers are written with 6 significant digits, as the value is passed on to the recipe.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(Uniform), "uniform")]
[JsonDerivedType(typeof(LogUniform), "loguniform")]
[JsonDerivedType(typeof(Choice), "choice")]
public abstract record Distribution
{
    public abstract string Draw(Random random);

    public abstract override string ToString();

    /// <summary>Reads "uniform(a,b)", "loguniform(a,b)" or "choice(v1,v2,…)".</summary>
    /// <exception cref="FormatException">The text is none of these; the message says what is wrong.</exception>
    public static Distribution Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        int open = trimmed.IndexOf('(', StringComparison.Ordinal);
        if (open <= 0 || !trimmed.EndsWith(')'))
            throw new FormatException($"'{text}' is not a distribution; write uniform(a,b), loguniform(a,b) or choice(v1,v2,...)");
        string name = trimmed[..open].Trim();
        var arguments = ValueList.Split(trimmed[(open + 1)..^1]);
        switch (name)
        {
            case "uniform":
            case "loguniform":
                if (arguments.Count != 2)
                    throw new FormatException($"{name}(a,b) takes two numbers, got {arguments.Count} in '{text}'");
                double low = Number(arguments[0], text), high = Number(arguments[1], text);
                if (!(low < high))
                    throw new FormatException($"{name}(a,b) needs a < b, got '{text}'");
                if (name == "loguniform" && low <= 0)
                    throw new FormatException($"loguniform(a,b) needs 0 < a (it draws uniformly in log space), got '{text}'");
                return name == "uniform" ? new Uniform(low, high) : new LogUniform(low, high);
            case "choice":
                if (arguments.Count == 0 || arguments.Any(a => a.Length == 0))
                    throw new FormatException($"choice(...) needs at least one value and no empty one, got '{text}'");
                return new Choice(arguments);
            default:
                throw new FormatException($"unknown distribution '{name}' in '{text}'{Suggest.DidYouMean(name, ["uniform", "loguniform", "choice"])}; write uniform(a,b), loguniform(a,b) or choice(v1,v2,...)");
        }
    }

    private static double Number(string text, string whole) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value)
            ? value
            : throw new FormatException($"'{text}' in '{whole}' is not a number");

    internal static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}

public sealed record Uniform(double Low, double High) : Distribution
{
    public override string Draw(Random random) => Format(Low + (High - Low) * random.NextDouble());

    public override string ToString() => $"uniform({Format(Low)},{Format(High)})";
}

public sealed record LogUniform(double Low, double High) : Distribution
{
    public override string Draw(Random random) => Format(Math.Exp(Math.Log(Low) + (Math.Log(High) - Math.Log(Low)) * random.NextDouble()));

    public override string ToString() => $"loguniform({Format(Low)},{Format(High)})";
}

public sealed record Choice(IReadOnlyList<string> Values) : Distribution
{
    public override string Draw(Random random) => Values[random.Next(Values.Count)];

    public override string ToString() => $"choice({string.Join(",", Values)})";
}

/// <summary>A key tried with each of the values (as YAML text, e.g. "3" or "[16,32]").</summary>
public sealed record GridAxis(string Key, IReadOnlyList<string> Values);

/// <summary>A key whose value is drawn for each random trial.</summary>
public sealed record RandomAxis(string Key, Distribution Distribution);

/// <summary>One value of one key in a trial.</summary>
public sealed record TrialValue(string Key, string Value);

/// <summary>One trial of a sweep: its index (0-based; a Slurm array task's id) and its values, which become
/// <c>--set key=value</c> overrides of the recipe.</summary>
public sealed record SweepTrial(int Index, IReadOnlyList<TrialValue> Values)
{
    /// <summary>The variant's name when the trial is a variant of a family; null for a sweep's trial.</summary>
    public string? Name { get; init; }

    public IReadOnlyList<string> Overrides => Values.Select(v => $"{v.Key}={v.Value}").ToList();

    public override string ToString() => string.Join(" ", Overrides);
}

/// <summary>
/// What a sweep tries: every combination of the grid axes, each with <see cref="RandomTrials"/> draws of the random
/// axes (seeded by <see cref="Seed"/>, so the same space gives the same trials). Without random axes the trials are
/// the grid; without grid axes they are the draws.
/// </summary>
public sealed record SearchSpace(IReadOnlyList<GridAxis> Grid, IReadOnlyList<RandomAxis> Random, int RandomTrials = 1, int Seed = 0)
{
    /// <summary>More trials than any sweep should start by mistake.</summary>
    public const int MaxTrials = 10_000;

    /// <summary>The trials in order: draw-major, then the grid with its last axis varying fastest.</summary>
    public IReadOnlyList<SweepTrial> Expand()
    {
        if (Grid.Count == 0 && Random.Count == 0)
            throw new InvalidInputException("the sweep has no search space: give --grid key=v1,v2 or --random key=uniform(a,b) (or a sweep: section in the recipe)");
        var duplicate = Grid.Select(a => a.Key).Concat(Random.Select(a => a.Key)).GroupBy(k => k).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidInputException($"sweep key '{duplicate.Key}' is given more than once; give each key one --grid or --random");
        if (Grid.FirstOrDefault(a => a.Values.Count == 0) is { } empty)
            throw new InvalidInputException($"--grid {empty.Key}: the value list is empty; give at least one value, e.g. {empty.Key}=1,2");
        if (RandomTrials < 1)
            throw new InvalidInputException($"--trials must be at least 1, got {RandomTrials}");
        int draws = Random.Count == 0 ? 1 : RandomTrials;
        double count = Grid.Aggregate((double)draws, (n, axis) => n * axis.Values.Count);
        if (count > MaxTrials)
            throw new InvalidInputException($"the sweep has {count:N0} trials; at most {MaxTrials:N0} are allowed (fewer values, or fewer --trials)");

        var random = new Random(Seed);
        var trials = new List<SweepTrial>();
        for (int draw = 0; draw < draws; draw++)
        {
            var drawn = Random.Select(axis => new TrialValue(axis.Key, axis.Distribution.Draw(random))).ToList();
            foreach (var point in GridPoints())
                trials.Add(new SweepTrial(trials.Count, [.. point, .. drawn]));
        }
        return trials;
    }

    private IEnumerable<List<TrialValue>> GridPoints()
    {
        IEnumerable<List<TrialValue>> points = [[]];
        foreach (var axis in Grid)
            points = points.SelectMany(point => axis.Values.Select(value => new List<TrialValue>([.. point, new TrialValue(axis.Key, value)])));
        return points;
    }
}

/// <summary>Splits "v1,v2,…" at the commas that are not inside brackets or quotes, so that list values such as [16,32] stay whole.</summary>
public static class ValueList
{
    public static IReadOnlyList<string> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Trim().Length == 0)
            return [];
        var values = new List<string>();
        int depth = 0, start = 0;
        char? quote = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quote is { } q)
            {
                if (c == q)
                    quote = null;
            }
            else if (c is '"' or '\'')
                quote = c;
            else if (c is '[' or '{' or '(')
                depth++;
            else if (c is ']' or '}' or ')')
                depth--;
            else if (c == ',' && depth == 0)
            {
                values.Add(text[start..i].Trim());
                start = i + 1;
            }
        }
        values.Add(text[start..].Trim());
        return values;
    }
}
