using System.Globalization;
using Distill.Core.Export.Energy;
using Distill.Core.Export.Onnx;
using Distill.Runtime;

namespace Distill.Core.Export.Families;

/// <summary>One variant to put in a family: its exported ONNX file, model card and figures from the export;
/// <paramref name="FileStem"/> names its files in the family folder.</summary>
public sealed record FamilyMember(string Name, string FileStem, string ModelPath, string? CardPath, long Parameters, double TestAccuracy);

/// <summary>
/// Writes a model family folder: each variant's ONNX file, measured in ONNX Runtime (median latency at batch 1 over
/// <see cref="Batch1Runs"/> runs and at batch 64 over <see cref="Batch64Runs"/>, after <see cref="Warmup"/> untimed runs;
/// energy per inference over at least a second of further batch-64 runs; the growth of resident memory at its peak
/// while a fresh process loads it and runs batch 64, from <c>peakMemory</c>), and manifest.json with the policy. The folder is written next to its final place and renamed
/// into it, so that a failure leaves the previous family, or none.
/// </summary>
public static class FamilyWriter
{
    public const int Warmup = 10;
    public const int Batch1Runs = 100;
    public const int Batch64Runs = 30;

    public static FamilyManifest Write(string folder, string target, IReadOnlyList<FamilyMember> members, FamilyPolicy policy,
        int threads, EnergyMeter energy, Func<string, long?> peakMemory, CancellationToken cancel = default)
    {
        if (members.Count < 2)
            throw new InvalidInputException($"a family needs at least two variants; {(members.Count == 0 ? "none" : $"only '{members[0].Name}'")} finished");
        string staging = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(folder))!, $".{Path.GetFileName(folder)}.{Environment.ProcessId}.tmp");
        if (Directory.Exists(staging))
            Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            FamilyInput? input = null;
            var variants = new List<FamilyVariant>();
            foreach (var member in members)
            {
                string file = FileName(member.FileStem) + Path.GetExtension(member.ModelPath);
                string copy = Path.Combine(staging, file);
                File.Copy(member.ModelPath, copy);
                string? card = member.CardPath is null ? null : FileName(member.FileStem) + ".model_card.json";
                if (card is not null)
                    File.Copy(member.CardPath!, Path.Combine(staging, card));
                input ??= InputOf(copy);
                var batch1 = OnnxLatency.Measure(copy, 1, Warmup, Batch1Runs, threads, cancel);
                var batch64 = OnnxLatency.Measure(copy, 64, Warmup, Batch64Runs, threads, cancel, energy);
                long? peak = peakMemory(copy);
                variants.Add(new FamilyVariant(member.Name, file, FamilyManifest.Sha256Of(copy), member.Parameters, new FileInfo(copy).Length,
                    member.TestAccuracy, new VariantLatency(Significant(batch1.MedianMs), Significant(batch64.MedianMs)), peak,
                    Significant(batch64.MillijoulesPerInference!.Value), batch64.Energy!.Method, card));
            }
            var manifest = new FamilyManifest(FamilyManifest.CurrentVersion, target, input!,
                new FamilyMeasurement(threads, Batch1Runs, $"{Environment.MachineName}, {Environment.ProcessorCount} logical cores"),
                [.. variants], policy);
            manifest.Save(Path.Combine(staging, FamilyManifest.FileName));
            // The policy must be satisfiable by these variants; the files were hashed above, from these very copies.
            FamilyManifest.Load(Path.Combine(staging, FamilyManifest.FileName), verifyFiles: false);
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
            Directory.Move(staging, folder);
            return manifest with { Directory = Path.GetFullPath(folder) };
        }
        catch (ManifestException e)
        {
            Directory.Delete(staging, recursive: true);
            throw new InvalidInputException(e.Message.Replace(staging, folder, StringComparison.Ordinal));
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>A measurement to 4 significant digits (0.01623456 ms → 0.01623): timer and meter noise is larger than
    /// that, and the manifest is read by people too. Positive values stay positive.</summary>
    internal static double Significant(double value) =>
        double.IsFinite(value) && value != 0 ? double.Parse(value.ToString("G4", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : value;

    /// <summary>A file stem: characters outside <see cref="PlainName.Rule"/> become '_'.</summary>
    private static string FileName(string name)
    {
        string plain = new([.. name.Take(100).Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);
        return PlainName.IsValid(plain) ? plain : "variant";
    }

    private static FamilyInput InputOf(string onnx)
    {
        using var session = OnnxRuntimeRunner.OpenSession(onnx, 1);
        var (name, metadata) = session.InputMetadata.First();
        return new FamilyInput(name, metadata.Dimensions.Skip(1).ToArray());
    }
}
