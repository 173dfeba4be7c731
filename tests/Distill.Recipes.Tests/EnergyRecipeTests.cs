using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>energy.watts_per_core: the power of a busy core in the CPU-time estimate of the training's and the exports'
/// energy; 10 W unless set, a positive number of at most 1000 W, refused at its line otherwise.</summary>
public class EnergyRecipeTests
{
    [Fact]
    public void Without_the_section_the_estimate_uses_10_watts_per_core()
    {
        var plan = Load(Minimal);
        Assert.Equal(10, plan.Energy.WattsPerCore);
        Assert.Equal("/sys/class/powercap", plan.Energy.PowercapRoot);
        Assert.DoesNotContain(plan.Params.Keys, k => k.StartsWith("energy", StringComparison.Ordinal));
    }

    [Fact]
    public void The_recipe_and_the_command_line_set_it_and_it_is_a_run_param()
    {
        var plan = Load(Minimal.Replace("name: t\n", "name: t\nenergy: { watts_per_core: 15 }\n"));
        Assert.Equal(15, plan.Energy.WattsPerCore);
        Assert.Equal("15", plan.Params["energy.watts_per_core"]);
        Assert.Equal(4.5, Load(Minimal, "energy.watts_per_core=4.5").Energy.WattsPerCore);
    }

    [Theory]
    [InlineData("0", "must be in (0, 1000], got 0")]
    [InlineData("-2", "must be in (0, 1000], got -2")]
    [InlineData("5000", "must be in (0, 1000], got 5000")]
    [InlineData("lots", "number")]
    public void A_value_that_is_not_a_positive_number_of_watts_is_refused_at_its_line(string value, string expected)
    {
        // Line 2; "energy: { watts_per_core: " is 26 characters, so the value is at column 27.
        var error = Single(Minimal.Replace("name: t\n", $"name: t\nenergy: {{ watts_per_core: {value} }}\n"));
        AssertAt(error, 2, 27, "energy.watts_per_core");
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void An_unknown_key_in_the_section_is_refused_with_the_right_one()
    {
        var error = Single(Minimal.Replace("name: t\n", "name: t\nenergy:\n  watts_per_cor: 12\n"));
        AssertAt(error, 3, 3, "unknown key 'watts_per_cor' (did you mean 'watts_per_core'?)");
    }
}
