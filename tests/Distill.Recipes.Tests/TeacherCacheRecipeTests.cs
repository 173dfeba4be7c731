using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>cache_teacher beside data.augment: a cache holds the teacher's outputs of the samples as read, so it cannot
/// serve augmented views. Written out it is an error at its value; left to its default it resolves to false there.</summary>
public sealed class TeacherCacheRecipeTests
{
    private static readonly string Augmented = Minimal.Replace("data:\n", "data:\n  augment: { max_shift: 2 }\n", StringComparison.Ordinal);

    /// <summary>Line and column (1-based) of the last <paramref name="needle"/>.</summary>
    private static (int Line, int Column) FindLast(string yaml, string needle)
    {
        int index = yaml.LastIndexOf(needle, StringComparison.Ordinal);
        int lineStart = yaml.LastIndexOf('\n', index) + 1;
        return (yaml[..index].Count(c => c == '\n') + 1, index - lineStart + 1);
    }

    [Fact]
    public void An_explicit_teacher_cache_with_augmentation_is_an_error_at_its_value()
    {
        string yaml = Augmented + "\n    cache_teacher: true";
        var (line, column) = FindLast(yaml, "true");
        AssertAt(Single(yaml), line, column,
            "stages[0].cache_teacher: a teacher cache cannot serve augmented views: with data.augment the teacher runs on every augmented batch; remove cache_teacher: true (or set it to false)");

        string trained = yaml.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  train: { epochs: 1, cache_teacher: true }\nstages:", StringComparison.Ordinal)
            .Replace("\n    cache_teacher: true", "", StringComparison.Ordinal);
        (line, column) = FindLast(trained, "true");
        AssertAt(Single(trained), line, column, "teacher.train.cache_teacher: a teacher cache cannot serve augmented views");

        var error = Single(Augmented, "stages[0].cache_teacher=true");
        Assert.Equal("<command line>:--set 1", error.File);
    }

    [Fact]
    public void Left_to_its_default_the_teacher_cache_resolves_to_false_with_augmentation_and_true_without()
    {
        var plan = Load(Augmented);
        Assert.False(plan.Stages[0].CacheTeacher);
        Assert.Equal("false", plan.Params["stages.0.cache_teacher"]);
        // The recorded recipe reads back: the resolved false is no explicit true.
        Assert.False(Load(plan.ResolvedRecipe).Stages[0].CacheTeacher);
        Assert.False(Load(Augmented + "\n    cache_teacher: false").Stages[0].CacheTeacher);

        var plain = Load(Minimal + "\n    cache_teacher: true");
        Assert.True(plain.Stages[0].CacheTeacher);
        Assert.True(Load(Minimal).Stages[0].CacheTeacher);
        Assert.Equal("true", Load(Minimal).Params["stages.0.cache_teacher"]);
    }

    [Fact]
    public void A_recipe_recorded_before_the_rule_reads_as_it_was_written()
    {
        // Recorded recipes of earlier runs wrote the default out: cache_teacher: true beside data.augment.
        string recorded = Augmented + "\n    cache_teacher: true";
        var plan = RecipeLoader.LoadText(recorded, "recipe.yaml", DataDir, recorded: true);
        Assert.True(plan.Stages[0].CacheTeacher);
        Assert.Equal("true", plan.Params["stages.0.cache_teacher"]);
    }
}
