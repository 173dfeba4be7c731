using Distill.Core;
using Distill.Recipes.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Recipes;

/// <summary>Reads a recipe, applies --set overrides, validates everything and returns the plan Core runs.</summary>
public static class RecipeLoader
{
    /// <param name="path">The recipe file; relative data paths in it are relative to its folder.</param>
    /// <param name="overrides">"--set" arguments such as "stages[1].epochs=3" or "student.model.channels=[8,16]".</param>
    /// <param name="devices">Which devices the machine that runs the recipe offers; null = this one.</param>
    /// <param name="references">Where runs:/ references are looked up; null = they stay as written.</param>
    /// <exception cref="RecipeException">The recipe or an override is wrong; lists every problem.</exception>
    /// <exception cref="InvalidInputException">The file is missing, unreadable or too large.</exception>
    public static RunPlan Load(string path, IReadOnlyList<string>? overrides = null, DeviceSupport? devices = null,
        RunReferenceLookup? references = null)
    {
        if (Directory.Exists(path))
            throw new InvalidInputException($"{path}: is a folder; give the recipe file (.yaml) to use");
        string text;
        try
        {
            text = ReadBounded(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            string reason = e is FileNotFoundException or DirectoryNotFoundException ? "recipe file not found" : $"cannot read the recipe: {e.Message}";
            throw new InvalidInputException($"{path}: {reason}", e);
        }
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? Directory.GetCurrentDirectory();
        return LoadText(text, path, folder, overrides, devices, references);
    }

    /// <param name="yaml">The recipe's text.</param>
    /// <param name="displayPath">Name used in error locations.</param>
    /// <param name="baseDirectory">Folder that relative paths in the recipe are resolved against.</param>
    /// <param name="overrides">"--set" arguments, applied before validation.</param>
    /// <param name="devices">Which devices the machine that runs the recipe offers; null = this one.</param>
    /// <param name="references">Where runs:/ references are looked up; null = they stay as written.</param>
    /// <param name="recorded">The text is a run's recorded recipe (resume, export of a run): written by an earlier version,
    /// it is read as that version read it where a later one refuses what it said (cache_teacher: true beside data.augment).</param>
    public static RunPlan LoadText(string yaml, string displayPath, string baseDirectory, IReadOnlyList<string>? overrides = null,
        DeviceSupport? devices = null, RunReferenceLookup? references = null, bool recorded = false)
    {
        if (yaml.Length > RecipeLimits.FileBytes.Value)
            throw new InvalidInputException($"{displayPath}: {TooLarge(yaml.Length.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), "characters")}");
        string folder = Path.GetFullPath(baseDirectory);
        var errors = new List<RecipeError>();
        var locate = new NodeLocator(displayPath);
        var parsed = Parse(yaml, locate, errors);
        Overrides.Apply(parsed as YamlMappingNode, overrides ?? [], locate, errors);

        MapValue? root = null;
        if (parsed is not null)
        {
            root = new Validator(locate, folder, errors).Validate(parsed, RecipeSchema.Root, "") as MapValue;
            if (root is not null)
            {
                CrossChecks.Run(root, errors);
                TeacherCacheChecks.Run(root, recorded, errors);
                ExportChecks.Run(root, folder, errors);
                SweepSection.Check(root, errors);
                FamilySection.Check(root, folder, errors);
                DeviceChecks.Run(root, devices ?? DeviceSupport.ThisMachine, errors);
                if (errors.Count == 0)
                {
                    SizeChecks.Run(root, errors);
                }
                if (errors.Count == 0)
                {
                    ReferenceChecks.Run(root, references, folder, errors);
                }
            }
        }
        if (errors.Count > 0 || root is null)
        {
            throw new RecipeException(FirstInReadingOrder(errors, displayPath));
        }
        return PlanBinder.Bind(root, folder);
    }

    /// <summary>The file's text, refused unread when it is larger than any recipe (or never ends, like /dev/zero).</summary>
    private static string ReadBounded(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var buffer = new byte[RecipeLimits.FileBytes.Value + 1];
        int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read > RecipeLimits.FileBytes.Value)
        {
            // A device or pipe has no length: say only that it is too long.
            string size = stream.CanSeek && stream.Length >= read
                ? stream.Length.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
                : "more than " + RecipeLimits.FileBytes.Text;
            throw new InvalidInputException($"{path}: {TooLarge(size, "bytes")}");
        }
        using var reader = new StreamReader(new MemoryStream(buffer, 0, read), detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private static string TooLarge(string size, string unit) =>
        $"the recipe is {size} {unit}; a recipe file may have at most {RecipeLimits.FileBytes.Text} bytes ({RecipeLimits.FileBytes.Why})";

    /// <summary>The first <see cref="RecipeLimits.Errors"/> problems in reading order, then how many more there are.</summary>
    private static List<RecipeError> FirstInReadingOrder(List<RecipeError> errors, string displayPath)
    {
        var ordered = InReadingOrder(errors, displayPath);
        int most = RecipeLimits.Errors.Int;
        if (ordered.Count <= most)
            return ordered;
        var last = ordered[most - 1];
        return [.. ordered.Take(most), last with { Message = $"… and {ordered.Count - most} more problems" }];
    }

    /// <summary>The document's root node; an empty document is an empty mapping. Null after a syntax error.</summary>
    private static YamlNode? Parse(string yaml, NodeLocator locate, List<RecipeError> errors)
    {
        var parser = new Parser(new StringReader(yaml));
        var stream = new YamlStream();
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            errors.Add(new RecipeError(locate.File, (int)e.Start.Line, (int)e.Start.Column, $"YAML syntax error: {e.Message}"));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 18 throws this for some unterminated flow collections; the last event read is the best position we have.
            var mark = parser.Current?.Start ?? Mark.Empty;
            errors.Add(new RecipeError(locate.File, (int)mark.Line, (int)mark.Column,
                "YAML syntax error: a [list] or {mapping} around here is not closed; check for a missing closing bracket"));
            return null;
        }
        if (stream.Documents.Count > 1)
        {
            var second = stream.Documents[1].RootNode;
            errors.Add(locate.Of(second).Error("a recipe holds one YAML document; found a second one here"));
            return null;
        }
        if (stream.Documents.Count == 0 || Validator.IsNull(stream.Documents[0].RootNode))
        {
            var empty = new YamlMappingNode();
            locate.Place(empty, new Location(locate.File, 1, 1));
            return empty;
        }
        return stream.Documents[0].RootNode;
    }

    /// <summary>File errors by position, then command-line errors by argument number.</summary>
    private static List<RecipeError> InReadingOrder(List<RecipeError> errors, string displayPath) =>
        errors.OrderBy(e => e.File == displayPath ? 0 : 1)
            .ThenBy(e => CommandLineNumber(e.File))
            .ThenBy(e => e.Line)
            .ThenBy(e => e.Column)
            .ToList();

    private static int CommandLineNumber(string file)
    {
        const string prefix = "<command line>:--set ";
        return file.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(file[prefix.Length..], out int n) ? n : 0;
    }
}
