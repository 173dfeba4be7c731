using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Text;
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
        Assert.Equal((ExportBackends.Get("onnx"), ExportPrecision.Int8), (vnni.Format, vnni.Precision));
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
        Assert.Equal((ExportBackends.Get("tflite"), ExportPrecision.Int8, false), (arm.Format, arm.Precision, arm.IntegerIo));
        // TFLite's fully connected weights are per tensor in the file, so the fake-quant model must be too.
        var head = Assert.Single(arm.QuantConfig().Overrides);
        Assert.False(head.Weights!.PerChannel);

        Assert.Equal(ExportPrecision.Float16, TargetProfileLoader.Load(Shipped("edge-fp16")).Precision);
        Assert.Equal(ExportPrecision.Float32, TargetProfileLoader.Load(Shipped("onnx-fp32")).Precision);
    }

    /// <summary>Every field of every shipped profile, written out from the YAML files by hand (absent keys take the
    /// record's defaults): the loader must read each file into exactly this record.</summary>
    public static TheoryData<string> ShippedNames => new(ShippedProfiles().Select(p => p.Name));

    private static TargetProfile[] ShippedProfiles() =>
    [
        new TargetProfile
        {
            Name = "arm-cortex-a",
            Description = "Arm Cortex-A through TensorFlow Lite / Arm NN; int8 full-integer following the TFLite int8 spec (conv weights per channel, fully connected per tensor), float input and output",
            Format = ExportBackends.Get("tflite"),
            Precision = ExportPrecision.Int8,
            Weights = new QuantScheme { Bits = 8, Symmetric = true, PerChannel = true, Signed = true, NarrowRange = true },
            Activations = new QuantScheme { Bits = 8, Signed = true, Symmetric = false },
            Calibration = ObserverKind.MinMax,
            CalibrationBatches = 16,
            CalibrationBatchSize = 64,
            Observer = new ObserverOptions { Percentile = 99.99 },
            IntegerIo = false,
            Source = Shipped("arm-cortex-a"),
        },
        new TargetProfile
        {
            Name = "coreml-fp16",
            Description = "Apple devices through Core ML (iOS 13+, macOS 10.15+); .mlmodel NeuralNetwork classifier with float16 weights, float32 input and output; checked against the Core ML specification, not run (no Core ML runtime outside Apple's systems)",
            Format = ExportBackends.Get("coreml"),
            Precision = ExportPrecision.Float16,
            Source = Shipped("coreml-fp16"),
        },
        new TargetProfile
        {
            Name = "coreml-int8",
            Description = "Apple devices through Core ML (iOS 13+, macOS 10.15+); .mlmodel NeuralNetwork classifier with 8-bit linear-quantised weights per output channel (activations float, no calibration); checked against the Core ML specification, not run",
            Format = ExportBackends.Get("coreml"),
            Precision = ExportPrecision.Int8,
            Weights = new QuantScheme { Bits = 8, Symmetric = false, PerChannel = true, Signed = false, NarrowRange = false },
            Source = Shipped("coreml-int8"),
        },
        new TargetProfile
        {
            Name = "edge-fp16",
            Description = "GPUs and neural engines that compute in half precision; ONNX fp16 weights and compute, float32 input and output",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Float16,
            Float32Io = true,
            Opset = 17,
            Source = Shipped("edge-fp16"),
        },
        new TargetProfile
        {
            Name = "npu-u8",
            Description = "NPUs and QNNPACK-style kernels that take uint8; ONNX QDQ with uint8 asymmetric per-tensor activations and uint8 asymmetric per-tensor weights",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int8,
            Weights = new QuantScheme { Bits = 8, Symmetric = false, PerChannel = false, Signed = false, NarrowRange = false },
            Activations = new QuantScheme { Bits = 8, Signed = false, Symmetric = false },
            Calibration = ObserverKind.Percentile,
            CalibrationBatches = 16,
            CalibrationBatchSize = 64,
            Observer = new ObserverOptions { Percentile = 99.99 },
            Opset = 17,
            Source = Shipped("npu-u8"),
        },
        new TargetProfile
        {
            Name = "onnx-fp32",
            Description = "Reference ONNX float32 file (batch norm folded); runs anywhere ONNX Runtime does",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Float32,
            Opset = 17,
            Source = Shipped("onnx-fp32"),
        },
        new TargetProfile
        {
            Name = "onnx-fp32-kv",
            Description = "ONNX float32 language model with a KV cache (past key/values in, present out); onnx-fp32 keeps the full-recompute file",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Float32,
            Opset = 17,
            KvCache = true,
            Source = Shipped("onnx-fp32-kv"),
        },
        new TargetProfile
        {
            Name = "onnx-int4",
            Description = "ONNX language model with 4-bit group-wise weights (GPTQ, groups of 32) in ONNX Runtime's MatMulNBits; embeddings, LayerNorms and the tied head stay fp32",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int4,
            Opset = 17,
            Int4 = new LmInt4Weights(GroupSize: 32, Symmetric: true, Method: Int4Method.Gptq, AccuracyLevel: 0, CalibrationWindows: 64),
            Source = Shipped("onnx-int4"),
        },
        new TargetProfile
        {
            Name = "onnx-int4-auto",
            Description = "As onnx-int4-g16, with the block linears whose 4-bit groups cost the most left in fp32 until the validation bits per byte are within 0.01 of the float model's (measured at export)",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int4,
            Opset = 17,
            Int4 = new LmInt4Weights(GroupSize: 16, Symmetric: true, Method: Int4Method.Gptq, AccuracyLevel: 0, CalibrationWindows: 64, Auto: new LmInt4Auto(MaxDrop: 0.01)),
            Source = Shipped("onnx-int4-auto"),
        },
        new TargetProfile
        {
            Name = "onnx-int4-g16",
            Description = "As onnx-int4 with groups of 16 inputs, for models whose layer widths are not multiples of 32 (d_model 112 of lm-kd.yaml's student)",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int4,
            Opset = 17,
            Int4 = new LmInt4Weights(GroupSize: 16, Symmetric: true, Method: Int4Method.Gptq, AccuracyLevel: 0, CalibrationWindows: 64),
            Source = Shipped("onnx-int4-g16"),
        },
        new TargetProfile
        {
            Name = "tensorrt",
            Description = "NVIDIA TensorRT; ONNX int8 QDQ, symmetric everywhere (zero point 0), per-channel weights, entropy (KL) calibration of activations",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int8,
            Weights = new QuantScheme { Bits = 8, Symmetric = true, PerChannel = true, Signed = true, NarrowRange = true },
            Activations = new QuantScheme { Bits = 8, Signed = true, Symmetric = true },
            Calibration = ObserverKind.Entropy,
            CalibrationBatches = 16,
            CalibrationBatchSize = 64,
            Observer = new ObserverOptions { Percentile = 99.99 },
            Opset = 17,
            Source = Shipped("tensorrt"),
        },
        new TargetProfile
        {
            Name = "x86-avx2",
            Description = "ONNX Runtime on x86 with AVX2 but no VNNI; int8 QDQ, U8S8 (uint8 activations, int8 weights), 7-bit weights (reduce_range) so that the u8 x s8 pair sums cannot saturate",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int8,
            Weights = new QuantScheme { Bits = 7, Symmetric = true, PerChannel = true, Signed = true, NarrowRange = false },
            Activations = new QuantScheme { Bits = 8, Signed = false, Symmetric = false },
            Calibration = ObserverKind.MinMax,
            CalibrationBatches = 16,
            CalibrationBatchSize = 64,
            Observer = new ObserverOptions { Percentile = 99.99 },
            FirstLayerFloat = true,
            Opset = 17,
            Source = Shipped("x86-avx2"),
        },
        new TargetProfile
        {
            Name = "x86-vnni",
            Description = "ONNX Runtime on x86 with AVX-512 VNNI or AVX-VNNI; int8 QDQ, S8S8 (int8 activations and weights), per-channel weights",
            Format = ExportBackends.Get("onnx"),
            Precision = ExportPrecision.Int8,
            Weights = new QuantScheme { Bits = 8, Symmetric = true, PerChannel = true, Signed = true, NarrowRange = true },
            Activations = new QuantScheme { Bits = 8, Signed = true, Symmetric = false },
            Calibration = ObserverKind.MinMax,
            CalibrationBatches = 16,
            CalibrationBatchSize = 64,
            Observer = new ObserverOptions { Percentile = 99.99 },
            FirstLayerFloat = true,
            Opset = 17,
            Source = Shipped("x86-vnni"),
        },
    ];

    [Theory]
    [MemberData(nameof(ShippedNames))]
    public void Shipped_profiles_load_field_for_field(string name)
    {
        var expected = ShippedProfiles().Single(p => p.Name == name);
        Assert.Equal(expected, TargetProfileLoader.Load(Shipped(name)));
    }

    [Fact]
    public void Every_shipped_profile_is_listed_and_named_as_its_file()
    {
        var entries = TargetCatalog.List();
        string[] expected = ["arm-cortex-a", "coreml-fp16", "coreml-int8", "edge-fp16", "npu-u8", "onnx-fp32", "onnx-fp32-kv", "onnx-int4", "onnx-int4-auto", "onnx-int4-g16", "tensorrt", "x86-avx2", "x86-vnni"];
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
        // The recipe schema's wording: the same positions and keys as the profile reader had of its own.
        var lines = e.Message.Split(Environment.NewLine);
        Assert.Equal(
        [
            "t.yaml:3:12: precision: must be one of fp32 | fp16 | int8 | int4, got 'int9' (did you mean 'int8'?)",
            "t.yaml:4:21: weights: unknown key 'colour'; allowed keys: bits, reduce_range, symmetric, per_channel, signed, narrow_range",
            "t.yaml:4:45: weights.symmetric: expected true or false, got 'maybe'",
            "t.yaml:5:24: calibration.method: must be one of min_max | moving_average | percentile | entropy | mse, got 'kl'",
            "t.yaml:5:37: calibration.batches: must be in [1, 100000], got 0",
            "t.yaml:6:1: unknown key 'shape'; allowed keys: name, description, format, precision, weights, activations, calibration, io, fp32_io, opset, first_layer, int4, kv_cache",
        ], lines);
    }

    /// <summary>Profiles share the recipe schema's machinery, so a misspelt key or name is answered with the closest one.</summary>
    [Fact]
    public void Misspelt_keys_and_names_get_did_you_mean()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("""
            name: t
            precision: int8
            weights: { per_chanel: false }
            calibration: { method: minmax }
            fromat: onnx
            """, "d.yaml"));
        Assert.Equal(
        [
            "d.yaml:3:12: weights: unknown key 'per_chanel' (did you mean 'per_channel'?); allowed keys: bits, reduce_range, symmetric, per_channel, signed, narrow_range",
            "d.yaml:4:24: calibration.method: must be one of min_max | moving_average | percentile | entropy | mse, got 'minmax' (did you mean 'min_max'?)",
            "d.yaml:5:1: unknown key 'fromat' (did you mean 'format'?); allowed keys: name, description, format, precision, weights, activations, calibration, io, fp32_io, opset, first_layer, int4, kv_cache",
        ], e.Message.Split(Environment.NewLine));
    }

    /// <summary>The formats are the export backends' names: an unknown one is an error at its value, with the closest
    /// name and the registry's names as the choices, never a default format.</summary>
    [Fact]
    public void An_unknown_format_is_an_error_naming_the_registered_formats()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: x\nprecision: int8\nformat: tflit\n", "u.yaml"));
        // "format: " is 8 characters: the value starts at column 9 of line 3.
        Assert.Equal($"u.yaml:3:9: format: must be one of {string.Join(" | ", ExportBackends.Registry.Names)}, got 'tflit' (did you mean 'tflite'?)", e.Message);
        Assert.Equal(["onnx", "tflite", "coreml"], ExportBackends.Registry.Names);

        foreach (var backend in ExportBackends.Registry.Entries)
            Assert.Same(backend, TargetProfileLoader.Parse($"name: x\nformat: {backend.Name}\n", "f.yaml").Format);
        Assert.Same(ExportBackends.Default, TargetProfileLoader.Parse("name: x\n", "d.yaml").Format);
    }

    /// <summary>Core ML int8 files quantise weights only (8-bit codes, float activations, no calibration) and fp16 files
    /// keep float32 input and output: the keys that would say otherwise are errors at their value.</summary>
    [Fact]
    public void Kv_cache_is_refused_for_formats_that_write_no_language_models()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: t\nformat: tflite\nprecision: int8\nkv_cache: true\n", "t.yaml"));
        Assert.Equal("t.yaml:4:11: kv_cache: applies to language-model files, which ONNX writes; TFLite writes classifiers only", e.Message);
        Assert.True(TargetProfileLoader.Parse("name: o\nformat: onnx\nprecision: int8\nkv_cache: true\n", "o.yaml").KvCache);
        Assert.False(TargetProfileLoader.Parse("name: o\nformat: tflite\nprecision: int8\nkv_cache: false\n", "f.yaml").KvCache);
    }

    [Fact]
    public void Int4_profiles_read_their_group_settings_and_refuse_what_MatMulNBits_cannot_run()
    {
        var p = TargetProfileLoader.Parse("name: q\nformat: onnx\nprecision: int4\nint4: { group_size: 64, symmetric: false, method: rtn, accuracy_level: 0 }\n", "q.yaml");
        Assert.Equal((ExportPrecision.Int4, 64, false, Int4Method.Rtn, 0, 64), (p.Precision, p.Int4.GroupSize, p.Int4.Symmetric, p.Int4.Method, p.Int4.AccuracyLevel, p.Int4.CalibrationWindows));
        Assert.Equal(new LmInt4Weights(), TargetProfileLoader.Parse("name: d\nformat: onnx\nprecision: int4\n", "d.yaml").Int4);

        var lines = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse(
            "name: q\nformat: onnx\nprecision: int4\nint4: { group_size: 24, method: awq, accuracy_level: 5 }\n", "q.yaml")).Message;
        Assert.Equal(string.Join(Environment.NewLine,
            "q.yaml:4:21: int4.group_size: must be one of 16 | 32 | 64 | 128 | 256, got '24' (did you mean '64'?)",
            "q.yaml:4:33: int4.method: must be one of rtn | gptq, got 'awq'",
            "q.yaml:4:54: int4.accuracy_level: must be in [0, 4], got 5"), lines);
        var onTflite = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: t\nformat: tflite\nprecision: int4\n", "t.yaml"));
        Assert.Equal("t.yaml:1:1: precision: int4 weights run as ONNX Runtime's MatMulNBits, which TFLite files cannot hold; int4 is for ONNX language models", onTflite.Message);
        var onInt8 = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: e\nformat: onnx\nprecision: int8\nint4: { group_size: 32 }\n", "e.yaml"));
        Assert.Equal("e.yaml:4:7: int4: applies to int4 files only (precision: int4)", onInt8.Message);
        var weights = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: w\nformat: onnx\nprecision: int4\nweights: { bits: 4 }\n", "w.yaml"));
        Assert.Equal("w.yaml:4:10: weights: int4 files take their weight settings from int4: (group_size, symmetric, method)", weights.Message);
    }

    [Fact]
    public void Int4_auto_reads_one_target_and_refuses_none_or_both_at_its_line()
    {
        var drop = TargetProfileLoader.Parse("name: a\nformat: onnx\nprecision: int4\nint4:\n  group_size: 16\n  auto: { max_drop: 0.01 }\n", "a.yaml");
        Assert.Equal(new LmInt4Auto(MaxDrop: 0.01), drop.Int4.Auto);
        var budget = TargetProfileLoader.Parse("name: a\nformat: onnx\nprecision: int4\nint4:\n  auto: { size_budget_bytes: 500000 }\n", "a.yaml");
        Assert.Equal(new LmInt4Auto(SizeBudgetBytes: 500_000), budget.Int4.Auto);
        Assert.Null(TargetProfileLoader.Parse("name: d\nformat: onnx\nprecision: int4\n", "d.yaml").Int4.Auto);

        foreach (string auto in new[] { "{ max_drop: 0.01, size_budget_bytes: 10 }", "{}" })
        {
            var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse($"name: a\nformat: onnx\nprecision: int4\nint4:\n  auto: {auto}\n", "a.yaml"));
            Assert.Equal("a.yaml:5:9: int4.auto: give exactly one of max_drop (bits per byte) and size_budget_bytes", e.Message);
        }
        var negative = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: a\nformat: onnx\nprecision: int4\nint4:\n  auto: { max_drop: -1 }\n", "a.yaml"));
        Assert.StartsWith("a.yaml:5:21: int4.auto.max_drop: must be", negative.Message);
    }

    [Fact]
    public void Core_ML_profiles_refuse_activation_calibration_and_other_widths()
    {
        var e = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("""
            name: c
            format: coreml
            precision: int8
            activations: { signed: true }
            calibration: { method: entropy }
            """, "c.yaml"));
        Assert.Equal(
        [
            "c.yaml:4:14: activations: Core ML int8 files quantise weights only (activations stay float); the key applies to ONNX or TFLite int8 files",
            "c.yaml:5:14: calibration: Core ML int8 files quantise weights only and need no calibration; the key applies to ONNX or TFLite int8 files",
        ], e.Message.Split(Environment.NewLine));

        var bits = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: c\nformat: coreml\nprecision: int8\nweights: { reduce_range: true }\n", "b.yaml"));
        Assert.Equal("b.yaml:1:1: weights: Core ML int8 files hold 8-bit weights, not 7-bit (reduce_range is 7-bit)", bits.Message);
        var io = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: c\nformat: coreml\nprecision: fp16\nfp32_io: false\n", "h.yaml"));
        Assert.Equal("h.yaml:1:1: fp32_io: Core ML fp16 files keep float32 input and output (float16 multiArrays need specification 7); leave fp32_io at true", io.Message);
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
            "p.yaml:1:1: missing required key 'name'",
            "p.yaml:3:5: io: applies to TFLite int8 files only; ONNX or Core ML files take float input",
            "p.yaml:4:35: weights.reduce_range: reduce_range means 7-bit weights; leave bits at 8",
        ], e.Message.Split(Environment.NewLine));

        var firstLayer = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: x\nformat: tflite\nprecision: int8\nfirst_layer: float\n", "f.yaml"));
        Assert.Equal("f.yaml:4:14: first_layer: applies to int8 ONNX files only (TFLite int8 is full-integer)", firstLayer.Message);
        var badChoice = Assert.Throws<InvalidInputException>(() => TargetProfileLoader.Parse("name: x\nprecision: int8\nfirst_layer: half\n", "g.yaml"));
        Assert.Equal("g.yaml:3:14: first_layer: must be one of integer | float, got 'half'", badChoice.Message);

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
        Assert.Contains("known targets: arm-cortex-a, coreml-fp16, coreml-int8, edge-fp16, npu-u8, onnx-fp32-kv, onnx-fp32, onnx-int4-auto, onnx-int4-g16, onnx-int4, tensorrt, x86-avx2, x86-vnni", e.Message);
    }

    [Fact]
    public void Recipe_export_list_binds_profiles_by_name_or_file()
    {
        Assert.Empty(Load(Minimal).Exports);
        var plan = Load(Minimal + $"\nexport: [{{ target: x86-vnni }}, {{ target: {Shipped("arm-cortex-a")} }}]");
        Assert.Equal(["x86-vnni", "arm-cortex-a"], plan.Exports.Select(p => p.Name).ToArray());
        Assert.Equal(ExportBackends.Get("tflite"), plan.Exports[1].Format);
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
    public void Recipe_export_entry_sets_the_timed_latency_runs_of_onnx_targets_only()
    {
        var plan = Load(Minimal + "\nexport:\n  - { target: x86-vnni, latency_runs: 200 }\n  - { target: onnx-fp32 }");
        Assert.Equal([200, (int?)null], plan.Exports.Select(p => p.LatencyRuns).ToArray());

        var errors = Errors(Minimal + "\nexport:\n  - { target: arm-cortex-a, latency_runs: 100 }\n  - { target: x86-vnni, latency_runs: 0 }");
        Assert.Equal(2, errors.Count);
        // "  - { target: arm-cortex-a, latency_runs: " is 42 characters.
        Assert.Equal((10, 43), (errors[0].Line, errors[0].Column));
        Assert.StartsWith("export[0].latency_runs: target arm-cortex-a: latency_runs / --latency-runs: TFLite files are timed over the verification run", errors[0].Message);
        Assert.Contains("ONNX targets take a number of runs", errors[0].Message);
        Assert.Equal(11, errors[1].Line);
        Assert.StartsWith("export[1].latency_runs: must be", errors[1].Message);
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

    [Fact]
    public void Classifier_recipe_exporting_to_a_kv_cache_profile_fails_at_its_line()
    {
        var error = Single(Minimal + "\nexport:\n  - target: onnx-fp32\n  - target: onnx-fp32-kv");
        Assert.Equal((11, 13), (error.Line, error.Column));
        Assert.StartsWith("export[1].target: ", error.Message);
        Assert.EndsWith("onnx-fp32-kv.yaml: kv_cache: true is for language models; a classifier has no past key/values (use a profile without it, e.g. onnx-fp32)", error.Message);
    }
}
