using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>How a classifier run ends: its final models with their test figures, the student's final sparsity, an
/// ONNX teacher's figures, and the exports to the recipe's targets.</summary>
internal static class ClassifierResults
{
    /// <summary>Saves a final model and logs its test metrics. A quantised student's test_acc is that of its
    /// fake-quant view (what an integer runtime computes); float_test_acc is the same weights in float.</summary>
    public static void RecordFinalModel(RunContext run, DataSplits data, ZooModel model, string role, string artifact, CancellationToken cancel,
        IReadOnlyDictionary<string, byte[]>? extraSections = null, QuantizedZooModel? quantized = null, bool pruned = false)
    {
        var (tracker, log) = (run.Tracker, run.Log);
        var test = quantized is null ? Evaluator.Evaluate(model, data.Test, cancel: cancel) : Evaluator.Evaluate(quantized, data.Test, cancel: cancel);
        if (quantized is not null)
        {
            var floatTest = Evaluator.Evaluate(model, data.Test, cancel: cancel);
            tracker.LogMetric($"{role}/float_test_acc", floatTest.Accuracy, 0);
            log.Information("{Role}: float test accuracy {Accuracy:P2}; quantised: {Quantized:P2}", role, floatTest.Accuracy, test.Accuracy);
        }
        var path = run.ArtifactPath(artifact);
        ModelCheckpoint.Save(path, model, data.Normalization, role, tracker.RunId, extraSections, data.Reading);
        tracker.RegisterArtifact(artifact);
        tracker.LogMetric($"{role}/test_acc", test.Accuracy, 0);
        tracker.LogMetric($"{role}/test_loss", test.Loss, 0);
        // {role}/params was logged when the run started. A pruned student's non-zero count is logged per epoch and
        // at its last epoch by RecordFinalSparsity (a point at step 0 would sit before the curve it ends).
        long nonZero = SparsityReport.NonZeroParameters(model);
        if (!pruned)
            tracker.LogMetric(SparsityReport.NonZeroKey(role), nonZero, 0);
        tracker.LogMetric($"{role}/size_bytes", new FileInfo(path).Length, 0);
        if (run.Wall.TryGetValue(role, out var seconds))
            tracker.LogMetric($"{role}/wall_seconds", seconds, 0);
        log.Information("{Role}: test accuracy {Accuracy:P2}, test loss {Loss:F4}, {Params:N0} parameters ({NonZero:N0} non-zero)",
            role, test.Accuracy, test.Loss, model.ParameterCount, nonZero);
    }

    /// <summary>Final sparsity metrics, logged at the student's last epoch so that they are the latest values of the
    /// per-epoch curves; after a shrink also the dense count the student had before it.</summary>
    public static void RecordFinalSparsity(RunContext run, StudentPruning pruning, int studentEpochs)
    {
        var (tracker, log) = (run.Tracker, run.Log);
        AtomicFile.WriteText(run.ArtifactPath(StudentPruning.TableArtifact), pruning.Table(), "the sparsity table");
        tracker.RegisterArtifact(StudentPruning.TableArtifact);
        var metrics = SparsityReport.Metrics(pruning.Student, pruning.Masks);
        metrics.TryAdd(SparsityReport.NonZeroMetric, SparsityReport.NonZeroParameters(pruning.Student));
        foreach (var (key, value) in metrics)
            tracker.LogMetric(key, value, studentEpochs);
        if (pruning.ShrunkFrom is { } before)
        {
            tracker.LogMetric(SparsityReport.BeforeShrinkMetric, before, studentEpochs);
            log.Information("Student shrunk: {After:N0} of {Before:N0} parameters kept (its pruned channels removed); {Zeros}",
                pruning.Student.ParameterCount, before,
                metrics.TryGetValue(SparsityReport.SparsityMetric, out var left) && left > 0
                    ? string.Format(CultureInfo.InvariantCulture, "{0:P2} of its pruned layers' remaining weights are zero", left)
                    : "no zeros left in its pruned layers");
        }
        else if (metrics.TryGetValue(SparsityReport.SparsityMetric, out var sparsity))
            log.Information("Student sparsity {Sparsity:P2} of its pruned layers: {NonZero:N0} of {Params:N0} parameters non-zero",
                sparsity, metrics[SparsityReport.NonZeroMetric], pruning.Student.ParameterCount);
    }

    /// <summary>An ONNX teacher's test metrics, measured through ONNX Runtime; its file stays where it is (no copy in the run).</summary>
    public static void RecordOnnxTeacher(RunContext run, DataSplits data, OnnxTeacher teacher, CancellationToken cancel)
    {
        var test = teacher.Evaluate(data.Test, cancel);
        run.Tracker.LogMetric("teacher/test_acc", test.Accuracy, 0);
        run.Tracker.LogMetric("teacher/test_loss", test.Loss, 0);
        run.Tracker.LogMetric("teacher/size_bytes", new FileInfo(teacher.Path).Length, 0);
        run.Log.Information("Teacher ({Teacher}, ONNX Runtime): test accuracy {Accuracy:P2}, test loss {Loss:F4}",
            teacher.Path, test.Accuracy, test.Loss);
    }

    /// <summary>Exports the final student to each target of the recipe, into the run. Exports run on the CPU, where
    /// the target runtimes run: the student is moved there first (its training is over).</summary>
    public static void RunExports(RunContext run, DataSplits data, StudentPruning pruning, StudentQuantization quantization, CancellationToken cancel)
    {
        if (run.Plan.Exports.Count == 0)
            return;
        pruning.Student.to(CPU);
        quantization.Quantized?.to(CPU);
        foreach (var profile in run.Plan.Exports)
        {
            if (profile.Format.HasRuntime)
                run.Log.Information("Export {Target}: calibrating, writing and verifying the file in its runtime", profile.Name);
            else
                run.Log.Information("Export {Target}: writing the file and checking it against the {Format} specification (no runtime to run it here)", profile.Name, profile.Format.Title);
            using var export = new ClassifierExport(new ExportRequest(pruning.Student, quantization.Quantized, profile, data.Train, data.Test,
                data.Normalization, ExportRecorder.OutputIn(run.Tracker, profile), new ExportSource(run.Tracker.RunId, RunExecutor.StudentArtifact))
            {
                Seed = run.Plan.Seed,
                Reading = data.Reading,
                Cancel = cancel,
                Log = run.Log,
                Energy = run.Plan.Energy.CreateMeter(),
            });
            var report = ExportRecorder.ExportInto(run.Tracker, export);
            if (report.Test is null || report.LatencyBatch1 is null)
            {
                run.Log.Information("Export {Target}: {Size:N0} bytes, {Summary}; verification {Verification}",
                    profile.Name, report.SizeBytes, report.Summary(), VerificationText.Describe(report.Verification));
                continue;
            }
            run.Log.Information("Export {Target}: {Size:N0} bytes, test accuracy {Accuracy:P2} (95 % interval {Low:P1} to {High:P1}, {Samples:N0} of {Available:N0} test samples) " +
                "in {Runtime}, {Latency:F3} ms at batch 1; verification {Verification}",
                profile.Name, report.SizeBytes, report.Test.Accuracy, report.Test.Low, report.Test.High, report.Test.Samples, report.Test.Available,
                report.Verification.Runtime, report.LatencyBatch1.MedianMs, VerificationText.Describe(report.Verification));
        }
    }
}
