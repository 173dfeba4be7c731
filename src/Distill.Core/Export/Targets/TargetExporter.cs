using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Tflite;
using Distill.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Export.Targets;

/// <summary>Exports a student for one hardware target: calibrates when needed, writes the file and its model
/// card into a temporary folder, verifies the file in its real runtime (ONNX Runtime or Arm NN), measures
/// accuracy, size and latency there, and moves the folder into place.</summary>
public static class TargetExporter
{
    /// <summary>Float32 files must reproduce the student's logits within this.</summary>
    public const double Float32Tolerance = 1e-4;
    /// <summary>Float16 files: weights and compute in half precision move logits by a few 1e-3.</summary>
    public const double Float16Tolerance = 5e-2;
    /// <summary>Int8 files must agree with the fake-quant student on this fraction of top-1 predictions.</summary>
    public const double Int8Agreement = 0.99;

    public const int LatencyWarmup = 10;
    public const int LatencyRuns = 30;

    /// <summary>The ONNX checker's result for a file that is not ONNX (TFLite).</summary>
    public const string CheckerNotApplicable = "not applicable";

    public static ExportReport Export(ExportRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var profile = request.Profile;
        var model = request.Model;
        profile.Validate();
        if (request.ExposeTaps && (profile.Format != ExportFormat.Onnx || profile.IsInteger))
            throw new InvalidInputException($"target {profile.Name}: taps can be exposed in float ONNX files only (e.g. onnx-fp32)");
        string output = Path.GetFullPath(request.OutputDirectory);
        string temp = CreateTempFolder(output);
        try
        {
            if (profile.IsInteger)
                CheckShape(model.InputShape, request.Calibration, "calibration");
            CheckShape(model.InputShape, request.Test, "test");
            var (quantized, owned, method, samples) = QuantizedFor(request);
            using var _ = owned ? quantized : null;
            var staticCard = ModelCard.Static(model, profile, quantized, request.Normalization, request.Reading, request.Source, method, samples);
            var metadata = new Dictionary<string, string> { [ModelCard.MetadataKey] = ModelCard.ToJson(staticCard, indented: false) };
            var options = profile.ExportOptions(metadata) with { ExposeTaps = request.ExposeTaps };
            IModelExporter exporter = profile.Format == ExportFormat.Onnx ? new OnnxExporter() : new TfliteExporter(batchSize: 1);
            string modelPath = Path.Combine(temp, profile.ModelFileName);
            var info = exporter.Export(model, quantized, options, modelPath);

            request.Cancel.ThrowIfCancellationRequested();
            var (verification, test, latencies) = VerifyAndMeasure(request, quantized, modelPath);
            string cardPath = Path.Combine(temp, ModelCard.FileName);
            var card = ModelCard.Full(staticCard, info with { Path = Path.Combine(output, profile.ModelFileName) }, test, latencies, verification);
            File.WriteAllText(cardPath, ModelCard.ToJson(card, indented: true) + "\n");

            MoveIntoPlace(temp, output);
            return new ExportReport(profile.Name, Path.Combine(output, profile.ModelFileName), Path.Combine(output, ModelCard.FileName),
                info.SizeBytes, test.Accuracy, test.Samples, latencies[0], latencies.Count > 1 ? latencies[1] : null, verification,
                owned, samples)
            {
                Test = test,
            };
        }
        finally
        {
            if (Directory.Exists(temp))
                Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>What an export writes; an output folder holding anything else is not replaced.</summary>
    private static readonly string[] ExportFiles = ["model.onnx", "model.tflite", ModelCard.FileName];

    /// <summary>Fails with <see cref="InvalidInputException"/> when the output cannot be written, or is a folder with
    /// other files than an earlier export's (the export replaces the folder: `--out .` must not delete the current
    /// folder); returns an empty folder beside it to write into.</summary>
    internal static string CreateTempFolder(string output)
    {
        if (File.Exists(output))
            throw new InvalidInputException($"{output}: is a file; the export output must be a folder");
        if (Directory.Exists(output)
            && Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName).Where(n => !ExportFiles.Contains(n)).Take(4).ToList() is { Count: > 0 } others)
        {
            throw new InvalidInputException(
                $"{output}: the folder holds other files than an export ({string.Join(", ", others.Take(3).Select(n => PrintableText.Escape(n!)))}{(others.Count > 3 ? ", ..." : "")}); " +
                "the export replaces its output folder, so give a new or empty folder, or an earlier export's");
        }
        string parent = Path.GetDirectoryName(output) ?? throw new InvalidInputException($"{output}: cannot export into a file system root");
        if (File.Exists(parent))
            throw new InvalidInputException($"{parent}: is a file; cannot create the export folder {output} in it");
        string temp = Path.Combine(parent, $".{Path.GetFileName(output)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(temp);
            File.WriteAllText(Path.Combine(temp, ".probe"), "");
            File.Delete(Path.Combine(temp, ".probe"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{output}: cannot write the export there: {e.Message}", e);
        }
        return temp;
    }

    internal static void MoveIntoPlace(string temp, string output)
    {
        if (Directory.Exists(output))
            Directory.Delete(output, recursive: true);
        Directory.Move(temp, output);
    }

    private static void CheckShape(long[] inputShape, TensorDataset data, string role)
    {
        if (!data.SampleShape.SequenceEqual(inputShape))
            throw new InvalidInputException(
                $"the {role} data has samples of shape [{string.Join(",", data.SampleShape)}] but the model takes [{string.Join(",", inputShape)}]");
        if (data.Count == 0)
            throw new InvalidInputException($"the {role} data is empty");
    }

    /// <summary>The checkpoint's quantised view when its schemes are the target's, else a fresh calibration.</summary>
    private static (QuantizedZooModel? Model, bool Owned, string Method, long Samples) QuantizedFor(ExportRequest request)
    {
        var profile = request.Profile;
        if (!profile.IsInteger)
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

    private static (ExportVerification Verification, TestMeasurement Test, List<ExportLatency> Latencies) VerifyAndMeasure(
        ExportRequest request, QuantizedZooModel? quantized, string modelPath)
    {
        var profile = request.Profile;
        var cancel = request.Cancel;
        using var scope = NewDisposeScope();
        long wanted = request.VerifySamples ?? profile.VerifySamples ?? VerificationSample.DefaultFor(profile.Format);
        var picked = VerificationSample.Pick(request.Test.LabelArray(), wanted, request.Seed);
        bool all = picked.LongLength == request.Test.Count;
        var x = all ? request.Test.Features : request.Test.Features.index_select(0, tensor(picked));
        var labels = all ? request.Test.Labels : request.Test.Labels.index_select(0, tensor(picked));
        long n = x.shape[0];
        Tensor reference;
        nn.Module<Tensor, Tensor> student = quantized is null ? request.Model : quantized;
        bool wasTraining = student.training;
        student.eval();
        try
        {
            using var noGrad = no_grad();
            reference = cat(Batches(x).Select(b =>
            {
                cancel.ThrowIfCancellationRequested();
                return student.call(b);
            }).ToList(), 0);
        }
        finally
        {
            student.train(wasTraining);
        }

        Tensor logits;
        var latencies = new List<ExportLatency>();
        string checker = CheckerNotApplicable;
        string runtime;
        if (profile.Format == ExportFormat.Onnx)
        {
            runtime = "ONNX Runtime (CPU)";
            checker = RunChecker(modelPath, cancel);
            using (var runner = new OnnxRuntimeRunner(modelPath))
                logits = runner.Run(x, cancel);
            foreach (int batch in new[] { 1, 64 })
            {
                var l = OnnxLatency.Measure(modelPath, batch, LatencyWarmup, LatencyRuns, request.LatencyThreads, cancel);
                latencies.Add(new ExportLatency(runtime, batch, l.MedianMs, l.Runs, l.Threads,
                    $"median of {l.Runs} runs after {LatencyWarmup} warm-up runs, {l.Threads} intra-op thread(s)"));
            }
        }
        else
        {
            runtime = "Arm NN (CpuRef)";
            using var runner = new ArmNnRunner(modelPath, cancel: cancel);
            logits = runner.Run(x, ProgressOf(request, runtime, n), cancel);
            double perSample = runner.LastInferenceTime.TotalMilliseconds / n;
            latencies.Add(new ExportLatency(runtime, 1, perSample, (int)n, 1,
                string.Create(CultureInfo.InvariantCulture, $"mean time per sample over the {n:N0} verification samples, batch 1, Arm NN's portable reference backend (not NEON)")));
        }

        double maxDiff = (logits - reference).abs().max().item<float>();
        var predicted = logits.argmax(1);
        double agreement = predicted.eq(reference.argmax(1)).to_type(ScalarType.Float64).mean().item<double>();
        long correct = predicted.eq(labels).sum().item<long>();
        var (low, high) = VerificationSample.Wilson(correct, n);
        var test = new TestMeasurement((double)correct / n, n, request.Test.Count, low, high,
            all ? "all" : string.Create(CultureInfo.InvariantCulture, $"random sample stratified by label, seed {request.Seed}"));
        bool checkerOk = checker is "passed" or CheckerNotApplicable || checker.StartsWith("unavailable", StringComparison.Ordinal);
        var verification = profile.Precision switch
        {
            ExportPrecision.Int8 => new ExportVerification(runtime, "fake-quant student", "top1_agreement", agreement, Int8Agreement,
                maxDiff, agreement, n, checker, checkerOk && agreement >= Int8Agreement),
            _ => Float(profile.Precision == ExportPrecision.Float16 ? Float16Tolerance : Float32Tolerance),
        };
        return (verification, test, latencies);

        ExportVerification Float(double tolerance) => new(runtime, "float student", "max_abs_logit_diff", maxDiff, tolerance,
            maxDiff, agreement, n, checker, checkerOk && maxDiff <= tolerance);
    }

    /// <summary>Samples done in the runtime, as the request's progress, or else as a log line every ten seconds.</summary>
    private static IProgress<long>? ProgressOf(ExportRequest request, string runtime, long total)
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
                progress.Report(new VerificationProgress(request.Profile.Name, runtime, done, total, elapsed));
                return;
            }
            if (elapsed - lastLog < TimeSpan.FromSeconds(10) && done < total)
                return;
            lastLog = elapsed;
            request.Log!.Information("{Target}: {Done:N0} of {Total:N0} verification samples run in {Runtime} ({Seconds:F0} s)",
                request.Profile.Name, done, total, runtime, elapsed.TotalSeconds);
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

    /// <summary>"passed", "unavailable: …" when python3-onnx is missing, or "failed: …" with the checker's message.</summary>
    internal static string RunChecker(string path, CancellationToken cancel = default)
    {
        try
        {
            OnnxChecker.Check(path, cancel);
            return "passed";
        }
        catch (InvalidOperationException e)
        {
            return "unavailable: " + e.Message;
        }
        catch (InvalidInputException e)
        {
            return "failed: " + e.Message;
        }
    }
}
