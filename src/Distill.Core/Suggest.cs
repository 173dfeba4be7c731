namespace Distill.Core;

/// <summary>"Did you mean" for misspelt keys and enum values.</summary>
public static class Suggest
{
    /// <summary>The closest candidate within edit distance 2, or one that the word is a prefix of (or the other way round).</summary>
    public static string? Closest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates)
        {
            int distance = Levenshtein(word.ToLowerInvariant(), candidate.ToLowerInvariant());
            bool prefix = word.Length > 0 && (candidate.StartsWith(word, StringComparison.OrdinalIgnoreCase)
                || word.StartsWith(candidate, StringComparison.OrdinalIgnoreCase));
            if ((distance <= 2 || prefix) && distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return best;
    }

    public static string DidYouMean(string word, IEnumerable<string> candidates) =>
        Closest(word, candidates) is { } hit ? $" (did you mean '{hit}'?)" : "";

    public static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
