using System.CommandLine;
using System.CommandLine.Parsing;
using Distill.Core;

namespace Distill.Cli;

/// <summary>"Did you mean" for misspelt commands and options (trian, runs lsit, --sett): each word the parser did not
/// match, and each argument that looks like an option, against the subcommands or the options of the command it
/// was typed after. System.CommandLine's own suggestions come with the whole help text and exit code 1.</summary>
public static class CommandTypos
{
    public static IEnumerable<string> Suggestions(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var commands = parse.CommandResult.Command.Subcommands.SelectMany(c => c.Aliases.Prepend(c.Name)).ToList();
        var options = OptionNames(parse.CommandResult);
        var words = parse.UnmatchedTokens
            .Concat(parse.Tokens.Where(t => t.Type == TokenType.Argument && t.Value.StartsWith("--", StringComparison.Ordinal)).Select(t => t.Value))
            .Distinct(StringComparer.Ordinal);
        foreach (string word in words)
        {
            if (Suggest.Closest(word, word.StartsWith('-') ? options : commands) is { } hit && hit != word)
                yield return $"'{PrintableText.Escape(word)}': did you mean '{hit}'?";
        }
    }

    /// <summary>The options of the command and the recursive ones of its parents (--store, --json, ...).</summary>
    private static List<string> OptionNames(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? result = command; result is not null; result = result.Parent)
        {
            if (result is not CommandResult current)
                continue;
            foreach (var option in current.Command.Options.Where(o => current == command || o.Recursive))
                names.AddRange(option.Aliases.Prepend(option.Name));
        }
        return names;
    }
}
