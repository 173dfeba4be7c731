namespace Distill.Core;

/// <summary>One named choice on an axis (an observer, a schedule, an optimiser, a pruning criterion): its
/// canonical name, earlier spellings still accepted, and one line saying what it does.</summary>
public interface IRegistryEntry
{
    /// <summary>The one spelling used in recipes, target profiles, model cards and the CLI.</summary>
    string Name { get; }

    /// <summary>Earlier spellings accepted where a name is read from outside (e.g. `distill calibrate --observer`).</summary>
    IReadOnlyList<string> Aliases { get; }

    /// <summary>What the entry does, for docs and listings.</summary>
    string Doc { get; }
}

/// <summary>The entries of one axis, in the order they are listed. Every reader of a name (recipe schema, binder,
/// target profiles, model cards, CLI options) goes through here, so a name is spelled once and an unknown name
/// is an error that lists the choices, never a default.</summary>
public sealed class Registry<T> where T : IRegistryEntry
{
    private readonly Dictionary<string, T> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, T> _byAlias = new(StringComparer.Ordinal);

    /// <param name="axis">What the entries are, in words ("observer"), for error messages.</param>
    /// <param name="entries">The entries, in listing order; names and aliases must all differ.</param>
    public Registry(string axis, IReadOnlyList<T> entries)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(axis);
        ArgumentNullException.ThrowIfNull(entries);
        Axis = axis;
        Entries = entries;
        foreach (var entry in entries)
        {
            if (!_byName.TryAdd(entry.Name, entry))
                throw new ArgumentException($"{axis} '{entry.Name}' is registered twice", nameof(entries));
        }
        foreach (var entry in entries)
        {
            foreach (string alias in entry.Aliases)
            {
                if (_byName.ContainsKey(alias) || !_byAlias.TryAdd(alias, entry))
                    throw new ArgumentException($"{axis} alias '{alias}' is already a name or an alias", nameof(entries));
            }
        }
        Names = [.. entries.Select(e => e.Name)];
    }

    public string Axis { get; }

    public IReadOnlyList<T> Entries { get; }

    /// <summary>The canonical names, in listing order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The entry a canonical name (or, with <paramref name="aliases"/>, an earlier spelling) stands for; null when none.</summary>
    public T? Find(string name, bool aliases = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var entry))
            return entry;
        return aliases && _byAlias.TryGetValue(name, out var aliased) ? aliased : default;
    }

    /// <summary>The entry a name stands for.</summary>
    /// <exception cref="InvalidInputException">No entry has that name: the message suggests the closest one and lists them all.</exception>
    public T Get(string name, bool aliases = false) =>
        Find(name, aliases) ?? throw new InvalidInputException(UnknownMessage(name));

    /// <summary>"unknown observer 'minmx' (did you mean 'min_max'?); choose from min_max, moving_average, …".</summary>
    public string UnknownMessage(string name) =>
        $"unknown {Axis} '{PrintableText.Escape(name)}'{Suggest.DidYouMean(name, Names)}; choose from {string.Join(", ", Names)}";
}
