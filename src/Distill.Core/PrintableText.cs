using System.Text;

namespace Distill.Core;

/// <summary>
/// Text from outside (recipes, profiles, run stores, servers, command lines) made safe to print on a
/// terminal: control characters (ESC, BEL, CR, backspace, C1 codes such as CSI U+009B) and Unicode
/// bidirectional controls are shown as \uXXXX, so a name or a message cannot recolour, retitle or clear
/// the terminal, move the cursor, or reorder what is shown around it.
/// </summary>
public static class PrintableText
{
    /// <summary>Every control character escaped, line breaks included: for one-line values (names, cells).</summary>
    public static string Escape(string text) => Escape(text, keepLineBreaks: false);

    /// <summary>Like <see cref="Escape(string)"/> but keeps '\n' and '\t': for messages of several lines and generated text.</summary>
    public static string EscapeLines(string text) => Escape(text, keepLineBreaks: true);

    private static string Escape(string text, bool keepLineBreaks)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(c => NeedsEscape(c, keepLineBreaks)))
            return text;
        var escaped = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (NeedsEscape(c, keepLineBreaks))
                escaped.Append(@"\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else
                escaped.Append(c);
        }
        return escaped.ToString();
    }

    private static bool NeedsEscape(char c, bool keepLineBreaks) =>
        (char.IsControl(c) && !(keepLineBreaks && c is '\n' or '\t')) || IsBidiControl(c);

    /// <summary>LRM, RLM, ALM and the embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).</summary>
    private static bool IsBidiControl(char c) => c is '\u200e' or '\u200f' or '\u061c' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');
}
