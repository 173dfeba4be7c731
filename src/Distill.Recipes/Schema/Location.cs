namespace Distill.Recipes.Schema;

/// <summary>Where a node came from: a recipe file position or a --set argument.</summary>
internal sealed record Location(string File, int Line, int Column)
{
    public RecipeError Error(string message) => new(File, Line, Column, message);
}
