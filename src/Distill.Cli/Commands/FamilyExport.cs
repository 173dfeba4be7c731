using System.CommandLine;
using System.Globalization;
using Distill.Core;
using Distill.Core.Export.Energy;
using Distill.Core.Export.Families;
using Distill.Core.Export.Targets;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;
using Distill.Runtime;

namespace Distill.Cli.Commands;

/// <summary>`distill export &lt;sweep&gt; --family --target &lt;profile&gt;`: each finished trial of a sweep exported to the target
/// (in its own run, as `distill export &lt;trial&gt;` does), then the variants measured into a family folder of the sweep run.</summary>
internal static class FamilyExport
{
    public static int Run(ParseResult parse, TargetProfile profile, string source, bool hasOut, double wattsPerCore)
    {
        if (profile.Format.Name != "onnx")
            throw new InvalidInputException($"--family: target {profile.Name} writes {profile.Format.Name} files; a family holds ONNX files (Distill.Runtime runs them in ONNX Runtime)");
        if (hasOut)
            throw new InvalidInputException("--family writes into the sweep run (exports/<target>/family/); --out does not apply");
        if (wattsPerCore <= 0)
            throw new InvalidInputException($"--watts-per-core must be positive, got {wattsPerCore}");
        using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
        var sweepRun = store.GetRun(source);
        if (!sweepRun.Tags.ContainsKey(SweepManifest.SweepTag) || sweepRun.Tags.ContainsKey(SweepManifest.TrialTag))
            throw new InvalidInputException($"run {sweepRun.Id} ({sweepRun.Name}) is not a sweep; a family is made of the finished trials of a sweep (distill sweep <recipe> --grid …) or the variants of a recipe's family: section");
        var manifest = SweepManifest.Load(SweepManifest.Folder(store.Directory, sweepRun.Id));
        Write(parse, store, manifest, profile, wattsPerCore);
        return ExitCodes.Success;
    }

    /// <summary>Exports each finished trial of the sweep (or variant of the family run) to <paramref name="profile"/> in its
    /// own run, reusing a verified export the run already made, then measures the variants into the sweep run's
    /// exports/&lt;target&gt;/family/ and prints the table.</summary>
    public static FamilyManifest Write(ParseResult parse, RunStore store, SweepManifest manifest, TargetProfile profile, double wattsPerCore)
    {
        var finished = SweepResults.Collect(store, manifest).Where(r => r.Finished).OrderBy(r => r.Trial.Index).ToList();
        if (finished.Count < 2)
            throw new InvalidInputException($"sweep {manifest.SweepRunId} has {finished.Count} finished trial(s); a family needs at least two variants");

        var members = new List<FamilyMember>();
        foreach (var trial in finished)
        {
            var run = trial.Run!;
            var (model, card, accuracy) = RecordedExport(store, run, profile) ?? Export(parse, store, run, trial.Trial, profile);
            long parameters = (long)run.Metrics.GetValueOrDefault("student/params", 0);
            string name = trial.Trial.Name ?? (trial.Trial.Overrides.Count == 0 ? $"trial-{trial.Trial.Index}" : trial.Trial.ToString());
            Console.Error.WriteLine($"trial {trial.Trial.Index} ({name}): {model}, test accuracy {accuracy:P2}");
            members.Add(new FamilyMember(name, trial.Trial.Name ?? $"trial-{trial.Trial.Index}", model, card, parameters, accuracy));
        }

        using var sweepTracker = store.AttachToRun(manifest.SweepRunId);
        string folder = Path.Combine(ExportRecorder.OutputIn(sweepTracker, profile), "family");
        var energy = EnergyMeter.Create(wattsPerCore: wattsPerCore);
        var family = FamilyWriter.Write(folder, profile.Name, members, new FamilyPolicy(), threads: 1, energy, FamilyCommand.PeakMemoryInChild);
        foreach (string file in Directory.GetFiles(folder))
            sweepTracker.RegisterArtifact(Path.GetRelativePath(sweepTracker.ArtifactDirectory, file).Replace('\\', '/'));
        Print(family, Path.Combine(folder, FamilyManifest.FileName));
        return family;
    }

    /// <summary>The run's own verified export to the profile (a family's variant exports to its recipe's targets as it
    /// finishes): its model file, model card and test accuracy in the runtime; null when it has none.</summary>
    private static (string Model, string Card, double Accuracy)? RecordedExport(RunStore store, RunRecord run, TargetProfile profile)
    {
        string prefix = ExportRecorder.Folder(profile.Name) + "/";
        if (run.Metrics.GetValueOrDefault($"export/{profile.Name}/verified") != 1
            || !run.Metrics.TryGetValue($"export/{profile.Name}/test_acc", out double accuracy)
            || run.Artifacts.Where(a => a.StartsWith(prefix, StringComparison.Ordinal) && a.EndsWith(".onnx", StringComparison.Ordinal)).ToList() is not [var model])
            return null;
        string card = store.ArtifactFile(run.Id, prefix + ModelCard.FileName);
        string file = store.ArtifactFile(run.Id, model);
        return File.Exists(file) && File.Exists(card) ? (file, card, accuracy) : null;
    }

    private static (string Model, string Card, double Accuracy) Export(ParseResult parse, RunStore store, RunRecord run, SweepTrial trial, TargetProfile profile)
    {
        string checkpoint = store.ResolveArtifact(run.Id, Core.RunExecutor.StudentArtifact);
        var recorded = RecordedRecipe.Of(store, run);
        using var tracker = store.AttachToRun(run.Id);
        var subject = new ExportSubject(profile, checkpoint, recorded.Path, ExportRecorder.OutputIn(tracker, profile),
            new ExportSource(run.Id, Core.RunExecutor.StudentArtifact), recorded.Folder);
        var report = ExportCommand.Export(parse, ModelFamilies.ForCheckpoint(checkpoint), subject, tracker);
        if (!report.Verification.Passed)
            throw new RunFailedException($"trial {trial.Index} ({run.Id}): its {profile.Name} export failed verification; see {report.CardPath}");
        double accuracy = report is ClassifierExportReport { Test: { } test } ? test.Accuracy
            : run.Metrics.GetValueOrDefault("student/test_acc", double.NaN);
        return (report.ModelPath, report.CardPath, accuracy);
    }

    internal static void Print(FamilyManifest family, string path)
    {
        Console.Out.WriteLine($"family for {family.Target}: {path}");
        Console.Out.WriteLine($"{"variant",-40} {"params",9} {"size",10} {"test acc",9} {"b1 ms",8} {"b64 ms",8} {"peak mem",10} {"mJ/inf",9}");
        foreach (var v in family.Variants)
            Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0,-40} {1,9:N0} {2,10} {3,9:P2} {4,8:F3} {5,8:F3} {6,10} {7,9:F4}",
                v.Name, v.Parameters, Output.SummaryTable.Bytes(v.SizeBytes), v.TestAccuracy, v.Latency.Batch1Ms, v.Latency.Batch64Ms,
                v.PeakMemoryBytes is long peak ? Output.SummaryTable.Bytes(peak) : "n/a", v.EnergyMjPerInference));
        Console.Out.WriteLine($"energy: {family.Variants[0].EnergyMethod}; latency: median, {family.MeasuredWith.Threads} thread(s), ONNX Runtime");
    }
}
