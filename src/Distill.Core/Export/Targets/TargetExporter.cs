namespace Distill.Core.Export.Targets;

/// <summary>Exports a model of any family for one hardware target: checks the profile, lets the family ready the
/// model, writes the file with the profile's <see cref="ExportBackend"/> and its model card into a temporary folder,
/// verifies and measures the file in its real runtime, and moves the folder into place. Nothing is left behind when
/// any step fails.</summary>
public static class TargetExporter
{
    /// <summary>Float32 files must reproduce the model's logits within this.</summary>
    public const double Float32Tolerance = 1e-4;
    /// <summary>Float16 files: weights and compute in half precision move logits by a few 1e-3.</summary>
    public const double Float16Tolerance = 5e-2;
    /// <summary>Int8 files must agree with the fake-quant student on this fraction of top-1 predictions.</summary>
    public const double Int8Agreement = 0.99;

    /// <summary>The criterion of a format with no runtime here (<see cref="ExportBackend.HasRuntime"/>): the problems its
    /// own check of the file found, at most 0; the check's result is in <see cref="ExportVerification.OnnxChecker"/>.</summary>
    public const string SpecProblems = "spec_problems";

    /// <summary>The ONNX checker's result for a file that is not ONNX (TFLite).</summary>
    public const string CheckerNotApplicable = "not applicable";

    public static TReport Export<TReport>(IFamilyExport<TReport> export) where TReport : ExportReport
    {
        ArgumentNullException.ThrowIfNull(export);
        var profile = export.Profile;
        profile.Validate();
        export.Check();
        string output = Path.GetFullPath(export.OutputDirectory);
        string temp = CreateTempFolder(output);
        try
        {
            export.Prepare();
            var staticCard = export.StaticCard();
            var options = profile.ExportOptions(new Dictionary<string, string> { [ModelCard.MetadataKey] = ModelCard.ToJson(staticCard, indented: false) });
            string modelPath = Path.Combine(temp, profile.ModelFileName);
            var info = export.Write(options, modelPath);

            export.Cancel.ThrowIfCancellationRequested();
            string finalModel = Path.Combine(output, profile.ModelFileName);
            string finalCard = Path.Combine(output, ModelCard.FileName);
            var report = export.Verify(modelPath, info, finalModel, finalCard);
            var card = export.FullCard((System.Text.Json.Nodes.JsonObject)staticCard.DeepClone(), info with { Path = finalModel });
            File.WriteAllText(Path.Combine(temp, ModelCard.FileName), ModelCard.ToJson(card, indented: true) + "\n");

            MoveIntoPlace(temp, output);
            return report;
        }
        finally
        {
            if (Directory.Exists(temp))
                Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>What an export writes; an output folder holding anything else is not replaced.</summary>
    private static IEnumerable<string> ExportFiles => ExportBackends.Registry.Entries.Select(b => b.ModelFileName).Append(ModelCard.FileName);

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

    private static void MoveIntoPlace(string temp, string output)
    {
        if (Directory.Exists(output))
            Directory.Delete(output, recursive: true);
        Directory.Move(temp, output);
    }
}
