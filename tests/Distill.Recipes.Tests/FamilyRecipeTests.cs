using Distill.Core.Sweeps;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>The family: section: its binding, and the errors at its lines (one variant, a name twice, no ONNX target,
/// a teacher value the shared teacher would ignore, a language model), and variants the recipe refuses.</summary>
public sealed class FamilyRecipeTests
{
    private static readonly string Teacher = """
        teacher:
          model: { arch: mlp, hidden: [64] }
          train: { epochs: 1 }
        """;

    private static string WithFamily(string family, string export = "export: [{ target: x86-vnni }, { target: arm-cortex-a }]", string teacher = "") =>
        Minimal.Replace("stages:", $"{teacher}\n{export}\n{family}\nstages:", StringComparison.Ordinal);

    private const string TwoWidths = """
        family:
          variants:
            - name: small
              set: { student.model.hidden: "[8]", "stages[0].epochs": "2" }
            - name: large
              set: { student.model.hidden: "[256, 64]" }
          parallel: 2
        """;

    [Fact]
    public void The_family_section_binds_its_variants_in_order_with_their_values()
    {
        var family = Load(WithFamily(TwoWidths)).Family!;

        Assert.Equal(["small", "large"], family.Variants.Select(v => v.Name));
        Assert.Equal([new TrialValue("student.model.hidden", "[8]"), new TrialValue("stages[0].epochs", "2")], family.Variants[0].Values);
        Assert.Equal([new TrialValue("student.model.hidden", "[256, 64]")], family.Variants[1].Values);
        Assert.Equal((true, 2), (family.ShareTeacher, family.Parallel));
        Assert.Null(Load(Minimal).Family);
    }

    [Fact]
    public void A_family_with_one_variant_is_an_error_at_the_list()
    {
        string yaml = WithFamily("""
            family:
              variants:
                - name: only
            """);
        var error = Single(yaml);
        Assert.Equal(Line(yaml, "- name: only"), error.Line);
        Assert.Contains("family.variants: needs at least 2 items, got 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_variants_with_one_name_are_an_error_at_the_second()
    {
        string yaml = WithFamily(TwoWidths.Replace("name: large", "name: small", StringComparison.Ordinal));
        var error = Single(yaml);
        Assert.Equal(Line(yaml, "- name: small", skip: 1), error.Line);
        Assert.Contains("family.variants: two variants are named 'small'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_family_without_an_onnx_target_is_an_error_at_the_family_key()
    {
        string yaml = WithFamily(TwoWidths, export: "export: [{ target: arm-cortex-a }]");
        var error = Single(yaml);
        Assert.Equal(Line(yaml, "family:"), error.Line);
        Assert.Contains("family: the family manifest is measured in ONNX Runtime, so export: needs an ONNX target", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_later_variants_teacher_value_is_an_error_when_the_teacher_is_shared()
    {
        string family = TwoWidths.Replace("set: { student.model.hidden: \"[256, 64]\" }", "set: { teacher.model.hidden: \"[32]\" }", StringComparison.Ordinal);
        string yaml = WithFamily(family, teacher: Teacher);
        var error = Single(yaml);
        Assert.Equal(Line(yaml, "teacher.model.hidden"), error.Line);
        Assert.Contains("family.variants[1].set.teacher.model.hidden: the variants after the first load its teacher (share_teacher: true)", error.Message, StringComparison.Ordinal);

        Assert.False(Load(WithFamily(family + "\n  share_teacher: false", teacher: Teacher)).Family!.ShareTeacher);
    }

    [Fact]
    public void A_variant_the_recipe_refuses_is_named_by_its_place_in_the_section()
    {
        string folder = Directory.CreateTempSubdirectory("distill-family-").FullName;
        try
        {
            string recipe = Path.Combine(folder, "recipe.yaml");
            File.WriteAllText(recipe, WithFamily(TwoWidths).Replace("fashion-mnist/", DataDir + "/fashion-mnist/", StringComparison.Ordinal));
            var family = RecipeLoader.Load(recipe).Family!;
            SweepSpace.CheckFamily(recipe, family, []);
            var bad = family with { Variants = [family.Variants[0], family.Variants[1] with { Values = [new("student.model.hiden", "[4]")] }] };

            var error = Assert.Single(Assert.Throws<RecipeException>(() => SweepSpace.CheckFamily(recipe, bad, ["seed=3"])).Errors);

            Assert.StartsWith("family.variants[1].set.student.model.hiden of the recipe: student.model: unknown key 'hiden' (did you mean 'hidden'?)", error.ToString(), StringComparison.Ordinal);
            Assert.EndsWith("(value '[4]')", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static int Line(string yaml, string text, int skip = 0) =>
        yaml.Split('\n').Select((line, i) => (line, i)).Where(x => x.line.Contains(text, StringComparison.Ordinal)).Skip(skip).First().i + 1;
}
