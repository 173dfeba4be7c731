using System.Globalization;
using System.Text;

namespace Distill.Core.Tracking;

/// <summary>
/// How a recipe path becomes a run param key: map keys joined by '.', list items by their index, so
/// that <c>stages[0].optimizer.lr</c> is the param <c>stages.0.optimizer.lr</c>. Keys spelled this way
/// are valid MLflow names (brackets are not), the same in the store, on a server and in filters.
/// </summary>
public static class ParamKeys
{
    /// <summary>The key of item <paramref name="index"/> of the list at <paramref name="path"/>.</summary>
    public static string Item(string path, int index) =>
        Join(path, index.ToString(CultureInfo.InvariantCulture));

    /// <summary>The key of entry <paramref name="key"/> of the map at <paramref name="path"/>.</summary>
    public static string Entry(string path, string key) => Join(path, Segment(key));

    /// <summary>
    /// The older spelling with list indices in brackets (<c>stages[0].epochs</c>, as --set takes them)
    /// rewritten to the param spelling (<c>stages.0.epochs</c>); any other key is returned as it is.
    /// </summary>
    public static string FromRecipePath(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Contains('[', StringComparison.Ordinal)
            ? key.Replace("[", ".", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal)
            : key;
    }

    private static string Join(string path, string segment) => path.Length == 0 ? segment : $"{path}.{segment}";

    /// <summary>
    /// A map key as one key segment. Recipe keys are plain names and stay as they are; in a free-form key
    /// (a tap name) any character other than letters, digits, '_', '-' and '.' becomes _xHH_ (its UTF-16
    /// code in hex), so that the key is a valid name and always the same for the same recipe.
    /// </summary>
    private static string Segment(string key)
    {
        if (key.All(IsKept))
            return key;
        var text = new StringBuilder(key.Length + 8);
        foreach (char c in key)
        {
            if (IsKept(c))
                text.Append(c);
            else
                text.Append(CultureInfo.InvariantCulture, $"_x{(int)c:x}_");
        }
        return text.ToString();
    }

    private static bool IsKept(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';
}
