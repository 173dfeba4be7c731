namespace Distill.Cli.Tests;

/// <summary>`--store` on the command line wins over a recipe's `tracking.store`, and the help texts and the
/// key reference (`recipes show --defaults`, docs/recipes.md) say so rather than the other way round.</summary>
public sealed class StorePrecedenceTests
{
    [Fact]
    public void Store_flag_wins_over_the_recipes_tracking_store_and_the_docs_say_so()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir, "tracking: { store: from-recipe }\n");
        string flagStore = dir.File("from-flag");

        var train = CliProcess.Run("train", recipe, "--store", flagStore);

        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.True(File.Exists(Path.Combine(flagStore, "distill.db")), train.ToString());
        Assert.False(Directory.Exists(dir.File("from-recipe")), "the recipe's tracking.store was used although --store was given");

        // What the user reads about it: the key reference and the --store help.
        var defaults = CliProcess.Run("recipes", "show", "--defaults");
        string storeLine = Assert.Single(defaults.StdOut.Split('\n'), l => l.StartsWith("tracking.store ", StringComparison.Ordinal));
        Assert.Contains("--store on the command line wins over it", storeLine);
        Assert.DoesNotContain("absent = --store", storeLine);

        var help = CliProcess.Run("train", "--help");
        Assert.Contains("wins over a recipe's tracking.store", help.StdOut);
    }
}
