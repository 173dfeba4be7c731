using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Export.Targets;

/// <summary>The export of an image or tabular classifier (<see cref="TargetExporter.Export"/> does the common part):
/// calibrates for an int8 target unless the checkpoint's quantisation fits it, writes the file, and verifies it in its
/// runtime against the float student (float files: max |logit diff|) or the fake-quant student (int8 files: top-1
/// agreement), measuring test accuracy and latency there.</summary>
public sealed class ClassifierExport(ExportRequest request) : IFamilyExport<ClassifierExportReport>
{
    public const string OutputMeaning =
        "logits: unnormalised scores, one per class in label order; argmax is the predicted class, softmax gives probabilities";

    private QuantizedZooModel? _quantized;
    private bool _owned;
    private string _calibration = "";
    private long _calibrationSamples;
    private ClassifierExportReport? _report;

    public TargetProfile Profile => request.Profile;
    public string OutputDirectory => request.OutputDirectory;
    public CancellationToken Cancel => request.Cancel;
    private ExportBackend Backend => request.Profile.Format;

    /// <summary>Throws <see cref="InvalidInputException"/> for a profile no classifier can be exported to.</summary>
    public static void CheckProfile(TargetProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.KvCache)
            throw new InvalidInputException($"{profile.Source ?? profile.Name}: kv_cache: true is for language models; a classifier has no past key/values (use a profile without it, e.g. onnx-fp32)");
        if (profile.Precision == ExportPrecision.Int4)
            throw new InvalidInputException($"{profile.Source ?? profile.Name}: precision: int4 (4-bit weights, MatMulNBits) is for language models; classifiers export as fp32, fp16 or int8 (e.g. x86-vnni)");
        if (profile.LatencyRuns is not null && !profile.Format.TimedLatency)
            throw new InvalidInputException($"target {profile.Name}: latency_runs / --latency-runs: {profile.Format.Title} files are timed " +
                $"{(profile.Format.HasRuntime ? "over the verification run, not in separate runs" : "nowhere here")}; {ExportBackends.Titles(b => b.TimedLatency)} targets take a number of runs");
    }

    /// <summary>Throws <see cref="InvalidInputException"/> for a profile this architecture cannot be exported to: a
    /// residual model (resnet, mobilenet_v2) has ONNX lowerings only.</summary>
    public static void CheckModel(ModelArch arch, TargetProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (Architectures.Of(arch).Residual && profile.Format.Name is not ("onnx" or "tflite"))
            throw new InvalidInputException($"target {profile.Name}: {Architectures.ResidualLimits(arch, $"cannot be exported to {profile.Format.Title} {(profile.IsInteger ? "int8" : "float")}")}");
    }

    public void Check()
    {
        CheckProfile(Profile);
        CheckModel(request.Model.Spec.Arch, Profile);
        if (request.ExposeTaps && (!Backend.ExposesTaps || Profile.IsInteger))
            throw new InvalidInputException($"target {Profile.Name}: taps can be exposed in float {ExportBackends.Titles(b => b.ExposesTaps)} files only (e.g. onnx-fp32)");
        if (!Backend.HasRuntime && (request.VerifySamples ?? Profile.VerifySamples) is not null)
            throw new InvalidInputException($"target {Profile.Name}: verify_samples / --verify-samples: {Backend.Title} files are not run here: {Backend.Runtime}, so no samples are verified");
    }

    public void Prepare()
    {
        if (Profile.IsInteger)
            CheckShape(request.Calibration, "calibration");
        CheckShape(request.Test, "test");
        (_quantized, _owned, _calibration, _calibrationSamples) = QuantizedFor();
    }

    public JsonObject StaticCard()
    {
        var model = request.Model;
        var signature = Backend.ClassifierSignature(model.InputShape, model.NumClasses);
        return ModelCard.Static(Profile, request.Source, kind: null,
        [
            new("model", new JsonObject
            {
                ["arch"] = Architectures.NameOf(model.Spec.Arch),
                ["parameters"] = model.ParameterCount,
                ["classes"] = model.NumClasses,
                ["input_shape"] = ModelCard.Shape(model.InputShape),
            }),
            new("input", new JsonObject
            {
                ["name"] = signature.InputName,
                ["shape"] = ModelCard.Shape(signature.InputShape),
                ["dtype"] = IoType(),
                ["layout"] = signature.Layout,
                ["batch"] = signature.Batch,
            }),
            new("preprocessing", ClassifierCard.Preprocessing(request.Normalization, request.Reading)),
            new("labels", ClassifierCard.Labels(model.NumClasses, request.Reading)),
            new("output", new JsonObject
            {
                ["name"] = signature.OutputName,
                ["shape"] = ModelCard.Shape(signature.OutputShape),
                ["dtype"] = IoType(),
                ["meaning"] = OutputMeaning,
            }),
            new("quantization", _quantized is not null ? ClassifierCard.Quantization(_quantized, Backend)
                : Profile.IsInteger ? Backend.WeightsOnlyQuantization(Profile.Weights) : null),
            new("calibration", _quantized is null ? null : new JsonObject
            {
                ["method"] = _calibration,
                ["observer"] = ModelCard.ObserverName(_quantized.Config.ActivationObserver),
                ["samples"] = _calibrationSamples,
            }),
        ]);
    }

    public ExportedModelInfo Write(ExportOptions options, string path) =>
        Backend.ClassifierExporter().Export(request.Model, _quantized, options with { ExposeTaps = request.ExposeTaps }, path);

    public ClassifierExportReport Verify(string modelPath, ExportedModelInfo info, string finalModelPath, string finalCardPath)
    {
        var (verification, test, latencies) = VerifyAndMeasure(modelPath);
        _report = new ClassifierExportReport(Profile.Name, finalModelPath, finalCardPath, info.SizeBytes, verification, test, latencies,
            _owned, _calibrationSamples);
        return _report;
    }

    public JsonObject FullCard(JsonObject card, ExportedModelInfo info)
    {
        var report = _report ?? throw new InvalidOperationException("FullCard before Verify");
        var figures = new List<KeyValuePair<string, JsonNode?>>
        {
            new("top1_agreement", report.Verification.Top1Agreement),
            new("samples", report.Verification.Samples),
        };
        var input = (JsonObject)card["input"]!;
        input["name"] = info.InputName;
        input["shape"] = ModelCard.Shape(info.InputShape);
        input["dtype"] = info.InputDType;
        input["layout"] = info.InputLayout;
        input["quantization"] = ClassifierCard.QParams(info.InputQuant);
        var output = (JsonObject)card["output"]!;
        output["name"] = info.OutputName;
        output["shape"] = ModelCard.Shape(info.OutputShape);
        output["dtype"] = info.OutputDType;
        output["quantization"] = ClassifierCard.QParams(info.OutputQuant);
        var measured = report.Test is { } test
            ? ClassifierCard.Measured(test, info.SizeBytes, report.Latencies)
            : ClassifierCard.NotRun(info.SizeBytes, Backend);
        return ModelCard.Complete(card, measured, report.Verification, figures);
    }

    public void Dispose()
    {
        if (_owned)
            _quantized?.Dispose();
        _quantized = null;
    }

    private string IoType() => Profile switch
    {
        { Precision: ExportPrecision.Float16, Float32Io: false } => "float16",
        { Precision: ExportPrecision.Int8, IntegerIo: true } when Backend.IntegerIo => "int8",
        _ => "float32",
    };

    private void CheckShape(TensorDataset data, string role)
    {
        long[] inputShape = request.Model.InputShape;
        if (!data.SampleShape.SequenceEqual(inputShape))
            throw new InvalidInputException(
                $"the {role} data has samples of shape [{string.Join(",", data.SampleShape)}] but the model takes [{string.Join(",", inputShape)}]");
        if (data.Count == 0)
            throw new InvalidInputException($"the {role} data is empty");
    }

    /// <summary>The checkpoint's quantised view when its schemes are the target's, else a fresh calibration.</summary>
    private (QuantizedZooModel? Model, bool Owned, string Method, long Samples) QuantizedFor()
    {
        var profile = Profile;
        if (!profile.IsInteger || Backend.Int8WeightsOnly)
            return (null, false, "", 0);
        if (request.Quantized is { IsFrozen: true } given && profile.Matches(given.Config))
            return (given, false, "from the checkpoint (quantised during training: QAT or a calibration stage)", 0);
        int batches = request.CalibrationBatches ?? profile.CalibrationBatches;
        if (request.Quantized is { } unfit)
        {
            var why = unfit.IsFrozen ? profile.Differences(unfit.Config) : ["its qparams never froze"];
            request.Log?.Warning(
                "{Target}: the checkpoint's quantisation (from QAT or calibration) does not fit this target: {Differences}. Calibrating again: " +
                "{Observer} observer on {Batches} batches of {BatchSize} from the training split; the trained qparams are not used",
                profile.Name, string.Join("; ", why), ModelCard.ObserverName(profile.Calibration), batches, profile.CalibrationBatchSize);
        }
        var quantized = PostTrainingCalibrator.Calibrate(request.Model, request.Calibration, batches, profile.CalibrationBatchSize, profile.QuantConfig(), request.Seed,
            request.Cancel);
        long samples = Math.Min(request.Calibration.Count, (long)batches * profile.CalibrationBatchSize);
        string method = string.Create(CultureInfo.InvariantCulture,
            $"post-training: {ModelCard.ObserverName(profile.Calibration)} observer on {batches} batches of {profile.CalibrationBatchSize} from the training split");
        return (quantized, true, method, samples);
    }

    private (ExportVerification Verification, TestMeasurement? Test, IReadOnlyList<ExportLatency> Latencies) VerifyAndMeasure(string modelPath)
    {
        var profile = Profile;
        var cancel = request.Cancel;
        if (!Backend.HasRuntime)
            return (SpecCheckOnly(modelPath), null, []);
        using var scope = NewDisposeScope();
        long wanted = request.VerifySamples ?? profile.VerifySamples ?? Backend.DefaultVerifySamples;
        var picked = VerificationSample.Pick(request.Test.LabelArray(), wanted, request.Seed);
        bool all = picked.LongLength == request.Test.Count;
        var x = all ? request.Test.Features : request.Test.Features.index_select(0, tensor(picked));
        var labels = all ? request.Test.Labels : request.Test.Labels.index_select(0, tensor(picked));
        long n = x.shape[0];
        var reference = Reference(x);

        string runtime = Backend.Runtime;
        string checker = Backend.CheckFile(modelPath, cancel);
        var run = Backend.RunClassifier(modelPath, x, new RuntimeSettings(request.LatencyThreads, ProgressOf(runtime, n), cancel, request.Energy, profile.LatencyRuns));
        var logits = run.Logits;

        double maxDiff = (logits - reference).abs().max().item<float>();
        var predicted = logits.argmax(1);
        double agreement = predicted.eq(reference.argmax(1)).to_type(ScalarType.Float64).mean().item<double>();
        long correct = predicted.eq(labels).sum().item<long>();
        var (low, high) = VerificationSample.Wilson(correct, n);
        var test = new TestMeasurement((double)correct / n, n, request.Test.Count, low, high,
            all ? "all" : string.Create(CultureInfo.InvariantCulture, $"random sample stratified by label, seed {request.Seed}"));
        bool checkerOk = checker is "passed" or TargetExporter.CheckerNotApplicable || checker.StartsWith("unavailable", StringComparison.Ordinal);
        var verification = profile.Precision switch
        {
            ExportPrecision.Int8 => new ExportVerification(runtime, "fake-quant student", "top1_agreement", agreement, TargetExporter.Int8Agreement,
                maxDiff, agreement, n, checker, checkerOk && agreement >= TargetExporter.Int8Agreement),
            _ => Float(profile.Precision == ExportPrecision.Float16 ? TargetExporter.Float16Tolerance : TargetExporter.Float32Tolerance),
        };
        return (verification, test, run.Latencies);

        ExportVerification Float(double tolerance) => new(runtime, "float student", "max_abs_logit_diff", maxDiff, tolerance,
            maxDiff, agreement, n, checker, checkerOk && maxDiff <= tolerance);
    }

    /// <summary>A format with no runtime here (Core ML): its own check of the file is the whole verification.</summary>
    private ExportVerification SpecCheckOnly(string modelPath)
    {
        string check = Backend.CheckFile(modelPath, request.Cancel);
        int problems = check == "passed" ? 0 : check.Split("; ").Length;
        return new ExportVerification(Backend.Runtime, $"{Backend.Title} specification", TargetExporter.SpecProblems, problems, 0,
            null, null, 0, check, problems == 0);
    }

    /// <summary>The student's logits on <paramref name="x"/>: the fake-quant view for int8 files, else the float model.</summary>
    private Tensor Reference(Tensor x)
    {
        nn.Module<Tensor, Tensor> student = _quantized is null ? request.Model : _quantized;
        bool wasTraining = student.training;
        student.eval();
        try
        {
            using var noGrad = no_grad();
            return cat(Batches(x).Select(b =>
            {
                request.Cancel.ThrowIfCancellationRequested();
                return student.call(b);
            }).ToList(), 0);
        }
        finally
        {
            student.train(wasTraining);
        }
    }

    /// <summary>Samples done in the runtime, as the request's progress, or else as a log line every ten seconds.</summary>
    private IProgress<long>? ProgressOf(string runtime, long total)
    {
        if (request.Progress is null && request.Log is null)
            return null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var lastLog = TimeSpan.Zero;
        return new SynchronousProgress(done =>
        {
            var elapsed = clock.Elapsed;
            if (request.Progress is { } progress)
            {
                progress.Report(new VerificationProgress(Profile.Name, runtime, done, total, elapsed));
                return;
            }
            if (elapsed - lastLog < TimeSpan.FromSeconds(10) && done < total)
                return;
            lastLog = elapsed;
            request.Log!.Information("{Target}: {Done:N0} of {Total:N0} verification samples run in {Runtime} ({Seconds:F0} s)",
                Profile.Name, done, total, runtime, elapsed.TotalSeconds);
        });
    }

    /// <summary>Calls back on the reporting thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    private static IEnumerable<Tensor> Batches(Tensor x)
    {
        for (long start = 0; start < x.shape[0]; start += Training.Evaluator.BatchSize)
            yield return x.narrow(0, start, Math.Min(Training.Evaluator.BatchSize, x.shape[0] - start));
    }
}
