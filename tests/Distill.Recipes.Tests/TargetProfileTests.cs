using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Recipes.Targets;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>Target profiles (configs/targets/*.yaml): the shipped ones, errors at file:line:column, and the
/// recipe's export list.</summary>
public class TargetProfileTests
{
    private static string Shipped(string name) => Path.Combine(AppContext.BaseDirectory, "configs", "targets", name + ".yaml");

    [Fact]
    public void Shipped_profiles_carry_each_targets_conventions()
    {
        var vnni = TargetProfileLoader.Load(Shipped("x86-vnni"));
        Assert.Equal((ExportFormat.Onnx, ExportPrecision.Int8), (vnni.Format, vnni.Precision));
        Assert.Equal(QuantScheme.WeightInt8PerChannel, vnni.Weights);
        Assert.Equal(QuantScheme.ActivationInt8, vnni.Activations);
        Assert.True(vnni.FirstLayerFloat && vnni.QuantConfig().FirstLayerFloat);

        var avx2 = TargetProfileLoader.Load(Shipped("x86-avx2"));
        Assert.Equal(7, avx2.Weights.Bits);
        Assert.Equal((-64L, 63L), (avx2.Weights.QMin, avx2.Weights.QMax));
        Assert.Equal(QuantScheme.ActivationUInt8, avx2.Activations);

        var trt = TargetProfileLoader.Load(Shipped("tensorrt"));
        Assert.True(trt.Activations.Symmetric && trt.Weights.Symmetric);
        Assert.Equal(ObserverKind.Entropy, trt.Calibration);
        Assert.False(trt.FirstLayerFloat);

        var npu = TargetProfileLoader.Load(Shipped("npu-u8"));
        Assert.False(npu.Weights.Signed || npu.Weights.PerChannel || npu.Weights.Symmetric);
        Assert.False(npu.Activations.Signed);
        Assert.Equal(ObserverKind.Percentile, npu.Calibration);

        var arm = TargetProfileLoader.Load(Shipped("arm-cortex-a"));
        Assert.Equal((ExportFormat.Tflite, ExportPrecision.Int8, false), (arm.Format, arm.Precision, arm.IntegerIo));
        // TFLite's fully connected weights are per tensor in the file, so the fake-quant model must be too.
        var head = Assert.Single(arm.QuantConfig().Overrides);
        Assert.False(head.Weights!.PerChannel);

        Assert.Equal(ExportPrecision.Float16, TargetProfileLoader.Load(Shipped("edge-fp16")).Precision);
        Assert.Equal(ExportPrecision.Float32, TargetProfileLoader.Load(Shipped("onnx-fp32")).Precision);
    }

    [Fact]
    public void Every_shipped_profile_is_listed_and_named_as_its_file()
    {
        var entries = TargetCatalog.List();
        string[] expected = ["arm-cortex-a", "edge-fp16", "npu-u8", "onnx-fp32", "tensorrt", "x86-avx2", "x86-vnni"];
        Assert.Equal(expected, entries.Select(e => e.Name).Order(StringComparer.Ordinal).ToArray());
        Assert.All(entries, e => Assert.Equal(e.Name, e.Profile!.Name));
    }

    [Fact]
    public void Bad_fields_are_reported_at_file_line_column_with_their_key()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("""
            name: t
            format: onnx
            precision: int9
            weights: { bits: 8, colour: red, symmetric: maybe }
            calibration: { method: kl, batches: 0 }
            shape: 3
            """, "t.yaml"));
        var lines = e.Message.Split(Environment.NewLine);
        Assert.Equal(
        [
            "t.yaml:3:12: precision: 'int9' is not one of fp32 | fp16 | int8",
            "t.yaml:4:21: weights.colour: unknown key; allowed: bits, reduce_range, symmetric, per_channel, signed, narrow_range",
            "t.yaml:4:45: weights.symmetric: must be true or false, got 'maybe'",
            "t.yaml:5:24: calibration.method: 'kl' is not one of min_max | moving_average | percentile | entropy | mse",
            "t.yaml:5:37: calibration.batches: must be an integer in [1, 100000], got '0'",
            "t.yaml:6:1: shape: unknown key; allowed: name, description, format, precision, weights, activations, calibration, io, fp32_io, opset, first_layer",
        ], lines);
    }

    [Fact]
    public void Options_of_another_format_and_a_missing_name_are_errors()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("""
            format: onnx
            precision: int8
            io: int8
            weights: { bits: 4, reduce_range: true }
            """, "p.yaml"));
        Assert.Equal(
        [
            "p.yaml:1:1: name: is required",
            "p.yaml:3:5: io: applies to TFLite int8 files only; ONNX files take float input",
            "p.yaml:4:35: weights.reduce_range: reduce_range means 7-bit weights; leave bits at 8",
        ], e.Message.Split(Environment.NewLine));

        var firstLayer = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: x\nformat: tflite\nprecision: int8\nfirst_layer: float\n", "f.yaml"));
        Assert.Equal("f.yaml:4:14: first_layer: applies to int8 ONNX files only (TFLite int8 is full-integer)", firstLayer.Message);
        var badChoice = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: x\nprecision: int8\nfirst_layer: half\n", "g.yaml"));
        Assert.Equal("g.yaml:3:14: first_layer: 'half' is not one of integer | float", badChoice.Message);

        var fp16 = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: x\nformat: tflite\nprecision: fp16\n", "q.yaml"));
        Assert.Equal("q.yaml:1:1: precision: TFLite export writes fp32 or int8, not fp16", fp16.Message);
    }

    /// <summary>The name becomes the export folder exports/&lt;name&gt;/ of a run: '../../../../x' wrote model.onnx outside the
    /// store, and a newline or ESC left files in the run's folder, before the artifact check refused them.</summary>
    [Theory]
    [InlineData("../../../../x", @"'../../../../x'")]
    [InlineData("..", "'..'")]
    [InlineData(".", "'.'")]
    [InlineData("a/b", "'a/b'")]
    [InlineData(@"a\\b", @"'a\b'")]
    [InlineData(@"a\nb", @"'a\u000ab'")]
    [InlineData(@"a\e[31m", @"'a\u001b[31m'")]
    [InlineData("x86 vnni", "'x86 vnni'")]
    public void Profile_name_must_be_a_plain_name_and_is_reported_at_its_line(string yamlName, string shown)
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse($"format: onnx\nname: \"{yamlName}\"\n", "n.yaml"));
        // "name: " is 6 characters: the value starts at column 7 of line 2; control characters are shown escaped.
        Assert.Equal($"n.yaml:2:7: name: {shown} must be letters, digits, '-', '_' and '.' only (not '.' or '..'), at most 100 characters: " +
            "it names the export folder exports/<name>/", e.Message);
        Assert.DoesNotContain(e.Message, char.IsControl);
    }

    [Fact]
    public void Plain_profile_names_up_to_100_characters_are_accepted()
    {
        Assert.Equal("my-npu_v2.1", TargetProfileLoader.Parse("name: my-npu_v2.1\n", "n.yaml").Name);
        Assert.Equal(100, TargetProfileLoader.Parse($"name: {new string('n', 100)}\n", "n.yaml").Name.Length);
        Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse($"name: {new string('n', 101)}\n", "n.yaml"));
        // A profile built in code is checked too, before anything is exported.
        var e = Assert.Throws<InvalidInputException>(() => new TargetProfile { Name = "../x" }.Validate());
        Assert.Contains("name: '../x' must be", e.Message);
    }

    [Fact]
    public void Unknown_target_lists_the_known_ones()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetCatalog.Resolve("x86-vnnni"));
        Assert.StartsWith("unknown target 'x86-vnnni'", e.Message);
        Assert.Contains("known targets: arm-cortex-a, edge-fp16, npu-u8, onnx-fp32, tensorrt, x86-avx2, x86-vnni", e.Message);
    }

    [Fact]
    public void Recipe_export_list_binds_profiles_by_name_or_file()
    {
        Assert.Empty(Load(Minimal).Exports);
        var plan = Load(Minimal + $"\nexport: [{{ target: x86-vnni }}, {{ target: {Shipped("arm-cortex-a")} }}]");
        Assert.Equal(["x86-vnni", "arm-cortex-a"], plan.Exports.Select(p => p.Name).ToArray());
        Assert.Equal(ExportFormat.Tflite, plan.Exports[1].Format);
    }

    [Fact]
    public void Recipe_export_entry_sets_how_many_test_samples_verify_it()
    {
        var plan = Load(Minimal + "\nexport:\n  - { target: arm-cortex-a, verify_samples: 2500 }\n  - { target: x86-vnni, verify_samples: all }\n  - { target: onnx-fp32 }");
        Assert.Equal([2500L, VerificationSample.All, null], plan.Exports.Select(p => p.VerifySamples).ToArray());

        var errors = Errors(Minimal + "\nexport:\n  - { target: arm-cortex-a, verify_samples: 0 }\n  - { target: x86-vnni, verify_samples: some }");
        Assert.Equal(2, errors.Count);
        // "  - { target: arm-cortex-a, verify_samples: " is 44 characters.
        Assert.Equal((10, 45), (errors[0].Line, errors[0].Column));
        Assert.StartsWith("export[0].verify_samples: must match ^(all|[1-9][0-9]{0,17})$, got '0'", errors[0].Message);
        Assert.StartsWith("export[1].verify_samples: must match", errors[1].Message);
    }

    [Fact]
    public void Recipe_with_an_unknown_or_repeated_target_fails_at_its_line()
    {
        var errors = Errors(Minimal + "\nexport:\n  - target: x86-vnni\n  - target: nope\n  - target: x86-vnni");
        Assert.Equal(2, errors.Count);
        Assert.Equal((11, 13), (errors[0].Line, errors[0].Column));
        Assert.StartsWith("export[1].target: unknown target 'nope'", errors[0].Message);
        Assert.Contains("known targets: arm-cortex-a", errors[0].Message);
        Assert.Equal((12, 13), (errors[1].Line, errors[1].Column));
        Assert.Equal("export[2].target: target 'x86-vnni' is already exported by an earlier item", errors[1].Message);

        var missing = Single(Minimal + "\nexport: [{ }]");
        Assert.Contains("target", missing.Message);
    }
}
