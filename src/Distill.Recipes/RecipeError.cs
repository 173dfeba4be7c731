using Distill.Core;

namespace Distill.Recipes;

/// <summary>One problem in a recipe, at the node it concerns. Overrides from the command line use
/// File = "&lt;command line&gt;:--set N" (N counts from 1), Line = 1 and the column inside that argument.</summary>
public sealed record RecipeError(string File, int Line, int Column, string Message)
{
    /// <summary>file:line:column: message; an error that has no line (Line 0: a sweep option) is where: message.</summary>
    public override string ToString() => Line == 0 ? $"{File}: {Message}" : $"{File}:{Line}:{Column}: {Message}";
}

/// <summary>A recipe that cannot be run; <see cref="Errors"/> lists every problem found, in file order.</summary>
public sealed class RecipeException(IReadOnlyList<RecipeError> errors)
    : InvalidInputException(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<RecipeError> Errors { get; } = errors;
}
