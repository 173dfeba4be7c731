using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

public class NumClassesRecipeTests
{
    private static string WithNumClasses(string value) =>
        Minimal.Replace("student:", $"  num_classes: {value}\nstudent:", StringComparison.Ordinal);

    [Fact]
    public void Num_classes_binds_and_is_absent_by_default()
    {
        Assert.Equal(12, Load(WithNumClasses("12")).Data.NumClasses);
        Assert.Null(Load(Minimal).Data.NumClasses);
        Assert.Equal(12, Load(Minimal, "data.num_classes=12").Data.NumClasses);
    }

    [Fact]
    public void Num_classes_below_two_is_an_error_at_its_line()
    {
        AssertAt(Single(WithNumClasses("1")), 5, 16, "data.num_classes: must be in [2, 65536], got 1");
    }
}
