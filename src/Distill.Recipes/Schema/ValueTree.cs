namespace Distill.Recipes.Schema;

/// <summary>A validated recipe node with defaults filled in, remembering where it came from.</summary>
internal abstract class Value(Location at)
{
    public Location At { get; } = at;
}

/// <summary>Raw is long (integer), double (number), bool, or string (string, enum, path).</summary>
internal sealed class ScalarValue(Location at, object raw) : Value(at)
{
    public object Raw { get; } = raw;
}

internal sealed class ListValue(Location at, IReadOnlyList<Value> items) : Value(at)
{
    public IReadOnlyList<Value> Items { get; } = items;
}

internal sealed record Entry(string Key, Location KeyAt, Value Value);

internal sealed class MapValue(Location at) : Value(at)
{
    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _invalid = [];
    private readonly HashSet<string> _defaulted = [];

    public IReadOnlyList<Entry> Entries => _entries;

    public void Add(Entry entry) => _entries.Add(entry);

    /// <summary>Records a key that was written but failed validation (already reported), so that
    /// cross-checks do not also call it missing.</summary>
    public void MarkInvalid(string key) => _invalid.Add(key);

    public bool WasInvalid(string key) => _invalid.Contains(key);

    /// <summary>Records a key whose value is the schema's default, not written in the recipe (nor by --set).</summary>
    public void MarkDefault(string key) => _defaulted.Add(key);

    public bool IsDefault(string key) => _defaulted.Contains(key);

    public void SortBy(MapSchema schema) =>
        _entries.Sort((a, b) => IndexOf(schema, a.Key).CompareTo(IndexOf(schema, b.Key)));

    public Entry? Find(string key) => _entries.FirstOrDefault(e => e.Key == key);

    /// <summary>Gives a present key another value (a run reference its file), keeping where it was written.</summary>
    public void Replace(string key, Value value)
    {
        int index = _entries.FindIndex(e => e.Key == key);
        _entries[index] = _entries[index] with { Value = value };
    }

    public Value? Get(string key) => Find(key)?.Value;

    public MapValue? Map(string key) => Get(key) as MapValue;

    public IReadOnlyList<Value> List(string key) => (Get(key) as ListValue)?.Items ?? [];

    public object? Raw(string key) => (Get(key) as ScalarValue)?.Raw;

    public string? Str(string key) => Raw(key) as string;

    private static int IndexOf(MapSchema schema, string key)
    {
        for (int i = 0; i < schema.Fields.Count; i++)
        {
            if (schema.Fields[i].Key == key)
            {
                return i;
            }
        }
        return int.MaxValue;
    }
}
