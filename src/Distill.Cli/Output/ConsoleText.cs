using Distill.Core;

namespace Distill.Cli.Output;

/// <summary>Text from outside (names, descriptions, params, tags, messages) as Spectre.Console markup: control
/// characters shown as \uXXXX (<see cref="PrintableText"/>) and '[' ']' escaped, so the text is shown as it is.</summary>
public static class ConsoleText
{
    public static string Markup(string text) => Spectre.Console.Markup.Escape(PrintableText.Escape(text));
}
