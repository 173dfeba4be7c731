namespace Distill.Core.Tracking.Analysis;

/// <summary>A metric key pattern such as "export/*/size_bytes": '/'-separated segments, where '*' matches exactly one segment.</summary>
public sealed class KeyPattern
{
    private readonly string[] _segments;

    public KeyPattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length == 0)
            throw new InvalidInputException("a metric pattern is empty; write e.g. */test_acc");
        _segments = pattern.Split('/');
        if (_segments.Any(s => s.Length == 0))
            throw new InvalidInputException($"metric pattern '{pattern}' has an empty segment");
        if (_segments.Any(s => s != "*" && s.Contains('*', StringComparison.Ordinal)))
            throw new InvalidInputException($"metric pattern '{pattern}': '*' must be a whole segment (it matches one segment of a key)");
        Text = pattern;
    }

    public string Text { get; }

    public int Wildcards => _segments.Count(s => s == "*");

    /// <summary>The segments that the wildcards matched, in order; null when the key does not match.</summary>
    public IReadOnlyList<string>? Match(string key)
    {
        var parts = key.Split('/');
        if (parts.Length != _segments.Length)
            return null;
        var captures = new List<string>();
        for (int i = 0; i < parts.Length; i++)
        {
            if (_segments[i] == "*")
                captures.Add(parts[i]);
            else if (_segments[i] != parts[i])
                return null;
        }
        return captures;
    }

    /// <summary>The key with the wildcards replaced by the captures.</summary>
    public string Fill(IReadOnlyList<string> captures)
    {
        int next = 0;
        return string.Join("/", _segments.Select(s => s == "*" ? captures[next++] : s));
    }

    public override string ToString() => Text;
}
