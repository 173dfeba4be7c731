using Distill.Core.Models;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>model.arch: resnet: its keys bind, and what it cannot do yet (int8, pruning, exports other than float ONNX)
/// is an error at the key that asks for it. <see cref="Recipes.Minimal"/>'s student model is on line 6; appended stage
/// lines are 9, 10, ….</summary>
public class ResNetRecipeTests
{
    private const string MlpModel = "{ arch: mlp, hidden: [32] }";

    private static string WithModel(string model) => Minimal.Replace(MlpModel, model, StringComparison.Ordinal);

    /// <summary>Column (1-based) of <paramref name="part"/> on line 6, the student model's line.</summary>
    private static int ColumnOf(string yaml, string part) => yaml.Split('\n')[5].IndexOf(part, StringComparison.Ordinal) + 1;

    [Fact]
    public void ResnetBindsChannelsAndBlocks_BlocksDefaultToOnePerStage()
    {
        var spec = Load(WithModel("{ arch: resnet, channels: [16, 32, 64], blocks: [1, 2, 1], hidden: [24] }")).Student.Model;
        Assert.Equal(ModelArch.Resnet, spec.Arch);
        Assert.Equal([16, 32, 64], spec.Channels);
        Assert.Equal([1, 2, 1], spec.Blocks);
        Assert.Equal([24], spec.Hidden);

        Assert.Equal([1, 1], Load(WithModel("{ arch: resnet, channels: [16, 32] }")).Student.Model.Blocks);
        // blocks is a resnet key: a cnn leaves it empty.
        Assert.Empty(Load(WithModel("{ arch: cnn, channels: [8] }")).Student.Model.Blocks);
    }

    [Fact]
    public void BlocksOfAnotherLengthThanChannelsIsAnErrorAtTheBlocksList()
    {
        string yaml = WithModel("{ arch: resnet, channels: [16, 32], blocks: [1, 2, 1] }");
        AssertAt(Single(yaml), 6, ColumnOf(yaml, "[1, 2, 1]"), "student.model.blocks: has 3 entries but channels has 2; give one per stage");
    }

    [Fact]
    public void ABlockCountBelowOneIsAnErrorAtTheItem()
    {
        string yaml = WithModel("{ arch: resnet, channels: [16, 32], blocks: [1, 0] }");
        AssertAt(Single(yaml), 6, ColumnOf(yaml, "0]"), "student.model.blocks[1]");
    }

    [Fact]
    public void AStageNarrowerThanSixteenIsAnErrorAtItsWidth()
    {
        string yaml = WithModel("{ arch: resnet, channels: [16, 8] }");
        AssertAt(Single(yaml), 6, ColumnOf(yaml, "8]"), "student.model.channels[1]: a resnet stage must be at least 16 channels wide, got 8: LibTorch's oneDNN convolution gradient");
        // A cnn keeps any width.
        Assert.Equal([8], Load(WithModel("{ arch: cnn, channels: [8] }")).Student.Model.Channels);
    }

    [Fact]
    public void BlocksOnACnnIsAnErrorAtTheKey()
    {
        string yaml = WithModel("{ arch: cnn, channels: [8], blocks: [1] }");
        AssertAt(Single(yaml), 6, ColumnOf(yaml, "blocks"), "student.model.blocks");
    }

    [Fact]
    public void APruneSectionOnAResnetStudentIsAccepted()
    {
        var plan = Load(WithModel("{ arch: resnet, channels: [32] }") + "\n" + "    epochs: 2\n    prune: { method: channel, sparsity: 0.5, shrink: true }");
        Assert.True(plan.Stages[0].Prune!.Shrink);
    }

    [Fact]
    public void AQuantizeSectionAndAnInt8OnnxTargetOnAResnetStudentAreAccepted()
    {
        var plan = Load(WithModel("{ arch: resnet, channels: [16] }") + "\n    epochs: 1\n    quantize: {}\nexport:\n  - target: x86-vnni");
        Assert.NotNull(plan.Stages[0].Quantize);
        Assert.Single(plan.Exports);
    }

    [Theory]
    [InlineData("coreml-fp16", "Core ML float")]
    public void AResnetStudentExportedToCoreMlIsAnErrorAtTheTarget(string target, string what)
    {
        string yaml = WithModel("{ arch: resnet, channels: [16] }") + $"\n    epochs: 1\nexport:\n  - target: {target}";
        var error = Single(yaml);
        AssertAt(error, 11, 13, $"export[0].target: target {target}: a resnet cannot be exported to {what}");
    }

    [Fact]
    public void AQuantizedResnetStudentExportsToTheInt8TfliteTarget()
    {
        var plan = Load(WithModel("{ arch: resnet, channels: [16] }") + "\n    epochs: 1\n    quantize: {}\nexport:\n  - target: arm-cortex-a");
        Assert.Single(plan.Exports);
    }

    [Fact]
    public void AResnetStudentExportsToFloatOnnx_AResnetTeacherMayHaveAnyStudent()
    {
        var plan = Load(WithModel("{ arch: resnet, channels: [16] }") + "\n    epochs: 1\nexport:\n  - target: onnx-fp32\n  - target: edge-fp16");
        Assert.Equal(2, plan.Exports.Count);

        // The limits are the student's: a resnet teacher distilled into a cnn that is quantised and exported to int8.
        string yaml = Minimal.Replace("student:", "teacher:\n  model: { arch: resnet, channels: [16, 32], blocks: [2, 1] }\n  train: { epochs: 1 }\nstudent:", StringComparison.Ordinal)
            .Replace(MlpModel, "{ arch: cnn, channels: [8] }", StringComparison.Ordinal)
            + "\n    epochs: 1\n    quantize: {}\nexport:\n  - target: x86-vnni";
        var kd = Load(yaml);
        Assert.Equal(ModelArch.Resnet, kd.Teacher!.Model.Arch);
        Assert.Equal([2, 1], kd.Teacher.Model.Blocks);
    }
}
