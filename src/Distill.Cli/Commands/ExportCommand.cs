using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Distill.Core.Tracking;
using Distill.Recipes.Targets;

namespace Distill.Cli.Commands;

/// <summary>`distill export &lt;run-id|checkpoint&gt; --target &lt;profile&gt;`: export a student for a hardware target,
/// verified and measured in the target's runtime.</summary>
public static class ExportCommand
{
    private static readonly Argument<string> Source = new("source")
    {
        Description = "A run id (or unique prefix) whose models/student.ckpt is exported into the run, or a model checkpoint file (image or language model): a path, or runs:/<run name, id or id prefix>/<artifact path> in the run store",
    };

    private static readonly Option<string> Target = new("--target")
    {
        Description = "Target profile: a name (distill targets list) or a profile YAML file",
        Required = true,
    };

    private static readonly Option<string?> Data = new("--data")
    {
        Description = "Recipe (or IDX/CSV file) whose training split calibrates and test split verifies (language models: a text recipe whose validation split verifies, or a .txt file); default for a run: its recipe",
    };

    private static readonly Option<int?> CalibrationBatches = new("--calibration-batches")
    {
        Description = "Calibration batches (default: the profile's calibration.batches)",
    };

    private static readonly Option<string?> Out = new("--out")
    {
        Description = "Output folder (replaced); required for a checkpoint; for a run the default is the run's exports/<target>/, recorded in the run",
    };

    private static readonly Option<string?> VerifySamples = new("--verify-samples")
    {
        Description = $"Image classifiers: test samples the export is verified and measured on in its runtime: N (a random sample stratified by label, seeded) or all; default: all in ONNX Runtime, {VerificationSample.ArmNnDefault:N0} in Arm NN (about 38 ms each)",
    };

    private static readonly Option<bool> ExposeTaps = new("--expose-taps")
    {
        Description = "Float ONNX targets: add the model's taps (block0.., features, hidden0..) as further outputs, so the file can be a teacher for hint losses",
    };

    public static Command Create()
    {
        var command = new Command("export",
            "Export a student to a hardware target (ONNX or TFLite), verify it in the real runtime and write its model card.")
        {
            Source, Target, Data, EvalCommand.Labels, EvalCommand.LabelColumn, CalibrationBatches, VerifySamples, ExposeTaps, Out,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var profile = TargetCatalog.Resolve(parse.GetValue(Target)!);
        if (parse.GetValue(CalibrationBatches) is < 1)
            throw new InvalidInputException("--calibration-batches must be at least 1");
        if (ParseVerifySamples(parse.GetValue(VerifySamples)) is { } verifySamples)
            profile = profile with { VerifySamples = verifySamples };
        string? outFolder = parse.GetValue(Out) is { } o ? Path.GetFullPath(o) : null;
        if (outFolder is not null && File.Exists(outFolder))
            throw new InvalidInputException($"--out {outFolder}: is a file; the export output must be a folder");

        string source = RunFiles.Resolve(parse, parse.GetValue(Source)!, "source");
        ExportReport report;
        if (File.Exists(source) || Directory.Exists(source) || source.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase))
        {
            if (File.Exists(source) && LmCheckpoint.IsLanguageModel(source))
            {
                string text = parse.GetValue(Data) ?? throw new InvalidInputException(
                    "--data is required when exporting a language-model checkpoint file (a text recipe, whose validation split verifies the export, or a .txt file)");
                return LmExport.Execute(parse, profile, Path.GetFullPath(source), text,
                    outFolder ?? throw new InvalidInputException("--out is required when exporting a checkpoint file"),
                    new ExportSource(null, Path.GetFullPath(source)), tracker: null);
            }
            string data = parse.GetValue(Data) ?? throw new InvalidInputException("--data is required when exporting a checkpoint file (a recipe, IDX or CSV file)");
            if (outFolder is null)
                throw new InvalidInputException("--out is required when exporting a checkpoint file");
            report = Export(parse, profile, Path.GetFullPath(source), data, outFolder, new ExportSource(null, Path.GetFullPath(source)), tracker: null);
        }
        else
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var run = store.GetRun(source);
            string checkpoint = store.ResolveArtifact(run.Id, RunExecutor.StudentArtifact);
            var recorded = parse.GetValue(Data) is null ? RecordedRecipe.Of(store, run) : null;
            string data = recorded?.Path ?? parse.GetValue(Data)!;
            string? recipeFolder = recorded?.Folder;
            if (LmCheckpoint.IsLanguageModel(checkpoint))
            {
                var lmSource = new ExportSource(run.Id, RunExecutor.StudentArtifact);
                if (outFolder is not null)
                    return LmExport.Execute(parse, profile, checkpoint, data, outFolder, lmSource, tracker: null, recipeFolder);
                using var lmTracker = store.AttachToRun(run.Id);
                return LmExport.Execute(parse, profile, checkpoint, data, Path.Combine(lmTracker.ArtifactDirectory, ExportRecorder.Folder(profile.Name)),
                    lmSource, lmTracker, recipeFolder);
            }
            if (outFolder is not null)
            {
                report = Export(parse, profile, checkpoint, data, outFolder, new ExportSource(run.Id, RunExecutor.StudentArtifact), tracker: null, recipeFolder);
            }
            else
            {
                using var tracker = store.AttachToRun(run.Id);
                report = Export(parse, profile, checkpoint, data, Path.Combine(tracker.ArtifactDirectory, ExportRecorder.Folder(profile.Name)),
                    new ExportSource(run.Id, RunExecutor.StudentArtifact), tracker, recipeFolder);
            }
        }
        Print(parse, report);
        return report.Verification.Passed ? ExitCodes.Success : ExitCodes.RunFailed;
    }

    private static ExportReport Export(ParseResult parse, TargetProfile profile, string checkpoint, string dataPath, string output,
        ExportSource source, ITracker? tracker, string? recipeFolder = null)
    {
        var (model, descriptor, quantized) = QuantState.LoadModel(checkpoint);
        using var _ = model;
        using var __ = quantized;
        var (options, baseDirectory, seed) = EvalCommand.DataFor(parse, dataPath, ModelInput.Of(checkpoint, descriptor), recipeFolder);
        using var data = DatasetLoader.Load(options, baseDirectory, seed);
        var report = TargetExporter.Export(new ExportRequest(model, quantized, profile, data.Train, data.Test, descriptor.Normalization, output, source)
        {
            CalibrationBatches = parse.GetValue(CalibrationBatches),
            Seed = seed,
            ExposeTaps = parse.GetValue(ExposeTaps),
            Reading = descriptor.Reading,
            Log = Output.CliLogging.Create(parse.GetValue(GlobalOptions.Verbose)),
            Progress = Console.IsErrorRedirected ? null : new Output.VerificationProgressPrinter(Console.Error),
        });
        if (tracker is not null)
            ExportRecorder.Record(tracker, report);
        return report;
    }

    private static string SampleText(TestMeasurement test) => test.Samples == test.Available
        ? string.Format(CultureInfo.InvariantCulture, "all {0:N0} test samples", test.Samples)
        : string.Format(CultureInfo.InvariantCulture, "{0:N0} of {1:N0} test samples ({2}; --verify-samples all runs every one)", test.Samples, test.Available, test.Selection);

    /// <summary>--verify-samples: a positive count or "all"; null when not given.</summary>
    internal static long? ParseVerifySamples(string? text) => text switch
    {
        null => null,
        "all" => VerificationSample.All,
        _ when long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= 1 => n,
        _ => throw new InvalidInputException($"--verify-samples: expected a number of samples (at least 1) or 'all', got '{text}'"),
    };

    private static void Print(ParseResult parse, ExportReport r)
    {
        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                target = r.Target,
                model = r.ModelPath,
                model_card = r.CardPath,
                size_bytes = r.SizeBytes,
                test_acc = r.TestAccuracy,
                test_acc_interval = new[] { r.Test.Low, r.Test.High },
                test_samples = r.TestSamples,
                test_samples_available = r.Test.Available,
                latency_ms_b1 = r.LatencyBatch1.MedianMs,
                latency_ms_b64 = r.LatencyBatch64?.MedianMs,
                calibrated = r.CalibratedFresh,
                calibration_samples = r.CalibrationSamples,
                verification = new
                {
                    runtime = r.Verification.Runtime,
                    criterion = r.Verification.Criterion,
                    value = r.Verification.Value,
                    threshold = r.Verification.Threshold,
                    onnx_checker = r.Verification.OnnxChecker,
                    passed = r.Verification.Passed,
                },
            }, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        var v = r.Verification;
        Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0}: {1} ({2}), test accuracy {3:P2} (95 % interval {4:P1} to {5:P1}) on {6} in {7}, latency {8:F3} ms at batch 1{9}",
            r.Target, r.ModelPath, Output.SummaryTable.Bytes(r.SizeBytes), r.TestAccuracy, r.Test.Low, r.Test.High, SampleText(r.Test), v.Runtime,
            r.LatencyBatch1.MedianMs, r.LatencyBatch64 is { } b64 ? string.Format(CultureInfo.InvariantCulture, ", {0:F3} ms at batch 64", b64.MedianMs) : ""));
        Console.Out.WriteLine($"verification {VerificationText.Describe(v)}");
        Console.Out.WriteLine($"model card: {r.CardPath}");
    }
}
