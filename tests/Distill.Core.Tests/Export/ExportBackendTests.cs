using System.Text.Json.Nodes;
using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tests.Data;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

/// <summary>Export formats are registry entries: everything format-specific in an export (file name, precisions,
/// verification runtime, sample size, the card's signature, what a language model may do) comes from the profile's
/// backend, so a new format is its folder and a registry line.</summary>
public sealed class ExportBackendTests : IDisposable
{
    private readonly DataSplits _data = DatasetLoader.Load(TestData.DigitsOptions, TestData.DataDir, seed: 5);
    private readonly ExportFolder _folder = new();

    [Fact]
    public void Backends_are_found_by_name_and_by_their_files_extension()
    {
        var entries = ExportBackends.Registry.Entries;
        Assert.Equal(["onnx", "tflite", "coreml"], entries.Select(b => b.Name));
        Assert.Equal([".onnx", ".tflite", ".mlmodel"], entries.Select(b => b.FileExtension));
        Assert.Same(entries[0], ExportBackends.Default);
        foreach (var backend in entries)
        {
            Assert.Same(backend, ExportBackends.Get(backend.Name));
            Assert.Same(backend, ExportBackends.ForFile($"/runs/x/exports/t/{backend.ModelFileName}"));
            Assert.Same(backend, ExportBackends.ForFile("MODEL" + backend.FileExtension.ToUpperInvariant()));
        }
        Assert.Null(ExportBackends.ForFile("models/student.ckpt"));
        Assert.Null(ExportBackends.ForFile("model_card.json"));

        var unknown = Assert.Throws<InvalidInputException>(() => ExportBackends.Get("tflit"));
        Assert.Equal("unknown export format 'tflit' (did you mean 'tflite'?); choose from onnx, tflite, coreml", unknown.Message);
    }

    [Fact]
    public void What_only_some_formats_do_is_each_backends_own_answer()
    {
        var onnx = ExportBackends.Get("onnx");
        var tflite = ExportBackends.Get("tflite");
        Assert.Equal((true, false, true, true), (onnx.FirstLayerFloat, onnx.IntegerIo, onnx.Opset, onnx.ExposesTaps));
        Assert.Equal((false, true, false, false), (tflite.FirstLayerFloat, tflite.IntegerIo, tflite.Opset, tflite.ExposesTaps));
        Assert.NotNull(onnx.LanguageModels);
        Assert.Null(tflite.LanguageModels);
        Assert.Equal("ONNX, TFLite or Core ML", ExportBackends.Titles(_ => true));

        // Per-channel weights: TFLite keeps fully connected layers per tensor (the head), ONNX needs no override.
        var weights = QuantScheme.WeightInt8PerChannel;
        Assert.Empty(onnx.QuantOverrides(weights));
        var head = Assert.Single(tflite.QuantOverrides(weights));
        Assert.Equal(("head.*", false), (head.Pattern, head.Weights!.PerChannel));
        Assert.Empty(tflite.QuantOverrides(weights with { PerChannel = false }));

        // A 1×8×8 image: ONNX keeps NCHW with a dynamic batch, TFLite is NHWC with a batch of 1.
        var onnxImage = onnx.ClassifierSignature([1, 8, 8], 10);
        Assert.Equal([-1L, 1, 8, 8], onnxImage.InputShape);
        Assert.Equal(("NCHW", "dynamic (first dimension)"), (onnxImage.Layout, onnxImage.Batch));
        Assert.Equal([-1L, 10], onnxImage.OutputShape);
        var tfliteImage = tflite.ClassifierSignature([1, 8, 8], 10);
        Assert.Equal([1L, 8, 8, 1], tfliteImage.InputShape);
        Assert.Equal(("NHWC", "fixed 1"), (tfliteImage.Layout, tfliteImage.Batch));
        Assert.Equal([1L, 10], tfliteImage.OutputShape);
        Assert.Equal([1L, 64], tflite.ClassifierSignature([64], 10).InputShape);
    }

    /// <summary>A backend that is no registry entry (ONNX under another name, extension, runtime label and defaults) goes
    /// through the whole export, card and refusals with its own answers: no code outside the backend tests the format.</summary>
    [Fact]
    public void A_new_backend_is_written_verified_and_described_by_its_own_answers()
    {
        var backend = new RenamedOnnx();
        var profile = new TargetProfile { Name = "copy", Format = backend };
        Assert.Equal("model.onnxc", profile.ModelFileName);
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [16] }, _data.InputShape, _data.NumClasses);
        model.eval();
        string output = _folder.File("copy");
        using (var export = new ClassifierExport(new ExportRequest(model, null, profile, _data.Train, _data.Test, _data.Normalization, output,
            new ExportSource(null, "test"))))
        {
            var report = TargetExporter.Export(export);
            Assert.Equal(Path.Combine(output, "model.onnxc"), report.ModelPath);
            Assert.Equal(["model.onnxc", "model_card.json"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.True(report.Verification.Passed, report.Verification.ToString());
            Assert.Equal("ONNX Runtime (copy)", report.Verification.Runtime);
            // The backend's default sample size, drawn stratified from the 359 test samples.
            Assert.Equal((100L, _data.Test.Count), (report.Test!.Samples, report.Test.Available));

            var card = JsonNode.Parse(File.ReadAllText(report.CardPath))!;
            Assert.Equal("onnx-copy", (string)card["target"]!["format"]!);
            Assert.Equal("copy batch", (string)card["input"]!["batch"]!);
            Assert.Equal("ONNX Runtime (copy)", (string)card["verification"]!["runtime"]!);
            Assert.Equal(100, (long)card["measured"]!["test_samples"]!);
        }

        var fp16 = Assert.Throws<InvalidInputException>(() => (profile with { Precision = ExportPrecision.Float16 }).Validate());
        Assert.Equal("copy: precision: ONNX copy export writes fp32, not fp16", fp16.Message);
        var lm = Assert.Throws<InvalidInputException>(() => LanguageModelExport.WeightsFor(profile));
        Assert.Equal("copy: language models export to ONNX only (targets onnx-fp32, x86-vnni, x86-avx2), not ONNX copy", lm.Message);
        var withTaps = new ExportRequest(model, null, profile, _data.Train, _data.Test, null, _folder.File("taps"), new ExportSource(null, "test"))
        {
            ExposeTaps = true,
        };
        using var taps = new ClassifierExport(withTaps);
        var tapsError = Assert.Throws<InvalidInputException>(() => TargetExporter.Export(taps));
        Assert.Equal("target copy: taps can be exposed in float ONNX files only (e.g. onnx-fp32)", tapsError.Message);
        Assert.False(Directory.Exists(_folder.File("taps")));
    }

    public void Dispose()
    {
        _data.Dispose();
        _folder.Dispose();
    }

    /// <summary>ONNX files under another format's name: what a new backend in its own folder would declare.</summary>
    private sealed class RenamedOnnx : ExportBackend
    {
        private readonly ExportBackend _onnx = new OnnxExportBackend();

        public override string Name => "onnx-copy";
        public override string Doc => "ONNX under another name, for tests";
        public override string Title => "ONNX copy";
        public override string FileExtension => ".onnxc";
        public override string Runtime => "ONNX Runtime (copy)";
        public override string RuntimeName => "ONNX Runtime";
        public override IReadOnlyList<ExportPrecision> Precisions { get; } = [ExportPrecision.Float32];
        public override long DefaultVerifySamples => 100;
        public override IModelExporter ClassifierExporter() => _onnx.ClassifierExporter();

        public override ExportSignature ClassifierSignature(long[] inputShape, int classes) =>
            _onnx.ClassifierSignature(inputShape, classes) with { Batch = "copy batch" };

        public override string QuantizedLayout => "none";
        public override string CheckFile(string path, CancellationToken cancel = default) => _onnx.CheckFile(path, cancel);
        public override RuntimeRun RunClassifier(string path, Tensor input, RuntimeSettings settings) => _onnx.RunClassifier(path, input, settings);
    }
}
