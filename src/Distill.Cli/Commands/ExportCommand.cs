using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
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

    internal static readonly Option<int?> CalibrationBatches = new("--calibration-batches")
    {
        Description = "Calibration batches (default: the profile's calibration.batches)",
    };

    private static readonly Option<string?> Out = new("--out")
    {
        Description = "Output folder (replaced); required for a checkpoint; for a run the default is the run's exports/<target>/, recorded in the run",
    };

    private static readonly Option<string?> VerifySamples = new("--verify-samples")
    {
        Description = "Image classifiers: test samples the export is verified and measured on in its runtime: N (a random sample stratified by label, seeded) or all; default: " +
            string.Join(", ", ExportBackends.Registry.Entries.Select(b =>
                $"{(b.DefaultVerifySamples == VerificationSample.All ? "all" : b.DefaultVerifySamples.ToString("N0", CultureInfo.InvariantCulture))} in {b.RuntimeName}")),
    };

    private static readonly Option<int?> LatencyRuns = new("--latency-runs")
    {
        Description = $"{ExportBackends.Titles(b => b.TimedLatency)} targets: timed runs behind each latency median (batch 1 and 64), after the warm-up runs; default {Core.Export.Onnx.OnnxExportBackend.LatencyRuns}",
    };

    internal static readonly Option<bool> ExposeTaps = new("--expose-taps")
    {
        Description = "Float ONNX targets: add the model's taps (block0.., features, hidden0..) as further outputs, so the file can be a teacher for hint losses",
    };

    private static readonly Option<bool> FamilyOption = new("--family")
    {
        Description = "The source is a sweep run: export each finished trial to the target (an ONNX profile) and write a model family, exports/<target>/family/ in the sweep run: the variants' files and manifest.json with each one's accuracy, latency at batch 1 and 64, peak memory and energy per inference, and the default policy (see distill family pick)",
    };

    public static readonly Option<double> WattsPerCore = new("--watts-per-core")
    {
        Description = "On a machine without readable RAPL counters: the power of a busy core for the estimate of the energy per inference (ONNX exports and --family)",
        DefaultValueFactory = _ => Core.Export.Energy.EnergyMeter.DefaultWattsPerCore,
    };

    public static Command Create()
    {
        var command = new Command("export",
            $"Export a student to a hardware target ({ExportBackends.Titles(_ => true)}), verify it in the real runtime (Core ML, which has none here: against its specification) and write its model card.")
        {
            Source, Target, Data, EvalCommand.Labels, EvalCommand.LabelColumn, CalibrationBatches, VerifySamples, LatencyRuns, ExposeTaps, Out,
            FamilyOption, WattsPerCore,
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
        if (parse.GetValue(LatencyRuns) is { } latencyRuns)
        {
            if (latencyRuns < 1)
                throw new InvalidInputException($"--latency-runs must be at least 1, got {latencyRuns}");
            profile = profile with { LatencyRuns = latencyRuns };
        }
        string? outFolder = parse.GetValue(Out) is { } o ? Path.GetFullPath(o) : null;
        if (outFolder is not null && File.Exists(outFolder))
            throw new InvalidInputException($"--out {outFolder}: is a file; the export output must be a folder");

        if (parse.GetValue(WattsPerCore) is var watts and (<= 0 or double.NaN or double.PositiveInfinity))
            throw new InvalidInputException($"--watts-per-core must be a positive number, got {watts.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        string source = RunFiles.Resolve(parse, parse.GetValue(Source)!, "source");
        if (parse.GetValue(FamilyOption))
            return FamilyExport.Run(parse, profile, source, outFolder is not null, parse.GetValue(WattsPerCore));
        ExportReport report;
        if (File.Exists(source) || Directory.Exists(source) || source.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase))
        {
            var family = ModelFamilies.ForCheckpoint(source);
            string data = parse.GetValue(Data) ?? throw new InvalidInputException($"--data is required when exporting {family.ExportData}");
            if (outFolder is null)
                throw new InvalidInputException("--out is required when exporting a checkpoint file");
            string checkpoint = Path.GetFullPath(source);
            report = Export(parse, family, new ExportSubject(profile, checkpoint, data, outFolder, new ExportSource(null, checkpoint), null), tracker: null);
        }
        else
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var run = store.GetRun(source);
            string checkpoint = store.ResolveArtifact(run.Id, RunExecutor.StudentArtifact);
            var recorded = parse.GetValue(Data) is null ? RecordedRecipe.Of(store, run) : null;
            string data = recorded?.Path ?? parse.GetValue(Data)!;
            var family = ModelFamilies.ForCheckpoint(checkpoint);
            var runSource = new ExportSource(run.Id, RunExecutor.StudentArtifact);
            if (outFolder is not null)
            {
                report = Export(parse, family, new ExportSubject(profile, checkpoint, data, outFolder, runSource, recorded?.Folder), tracker: null);
            }
            else
            {
                using var tracker = store.AttachToRun(run.Id);
                report = Export(parse, family, new ExportSubject(profile, checkpoint, data, ExportRecorder.OutputIn(tracker, profile), runSource, recorded?.Folder),
                    tracker);
            }
        }
        Print(parse, report);
        return report.Verification.Passed ? ExitCodes.Success : ExitCodes.RunFailed;
    }

    internal static ExportReport Export(ParseResult parse, IFamilyCommands family, ExportSubject subject, ITracker? tracker)
    {
        using var loaded = family.LoadExport(parse, subject);
        var report = TargetExporter.Export(loaded.Export);
        if (tracker is not null)
            ExportRecorder.Record(tracker, report);
        return report;
    }

    /// <summary>--verify-samples: a positive count or "all"; null when not given.</summary>
    internal static long? ParseVerifySamples(string? text) => text switch
    {
        null => null,
        "all" => VerificationSample.All,
        _ when long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= 1 => n,
        _ => throw new InvalidInputException($"--verify-samples: expected a number of samples (at least 1) or 'all', got '{text}'"),
    };

    /// <summary>The report as JSON (the family's fields between the size and the verification) or as lines.</summary>
    private static void Print(ParseResult parse, ExportReport r)
    {
        var v = r.Verification;
        if (parse.GetValue(GlobalOptions.Json))
        {
            var json = new JsonObject
            {
                ["target"] = r.Target,
                ["model"] = r.ModelPath,
                ["model_card"] = r.CardPath,
                ["size_bytes"] = r.SizeBytes,
            };
            foreach (var (key, node) in r.JsonFields())
                json[key] = node;
            var verification = new JsonObject
            {
                ["runtime"] = v.Runtime,
                ["criterion"] = v.Criterion,
                ["value"] = v.Value,
                ["threshold"] = v.Threshold,
            };
            foreach (var (key, node) in r.VerificationJsonFields())
                verification[key] = node;
            verification[v.Criterion == TargetExporter.SpecProblems ? "spec_check" : "onnx_checker"] = v.OnnxChecker;
            verification["passed"] = v.Passed;
            json["verification"] = verification;
            Console.Out.WriteLine(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        Console.Out.WriteLine($"{r.Target}: {r.ModelPath} ({Output.SummaryTable.Bytes(r.SizeBytes)}), {r.Summary()}");
        Console.Out.WriteLine($"verification {VerificationText.Describe(v)}");
        foreach (string line in r.Details())
            Console.Out.WriteLine(line);
        Console.Out.WriteLine($"model card: {r.CardPath}");
    }
}
