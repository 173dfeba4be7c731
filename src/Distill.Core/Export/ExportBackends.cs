using Distill.Core.Export.CoreMl;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Tflite;

namespace Distill.Core.Export;

/// <summary>The export formats. To add one: a folder beside Onnx/ and Tflite/ with its lowering, its runtime runner
/// and its <see cref="ExportBackend"/>, and a line here; target profiles (<c>format</c>), model cards, `distill targets
/// list`, `distill export` and `distill eval` all read this table.</summary>
public static class ExportBackends
{
    public static Registry<ExportBackend> Registry { get; } = new("export format",
    [
        new OnnxExportBackend(),
        new TfliteExportBackend(),
        new CoreMlExportBackend(),
    ]);

    /// <summary>The format of a profile that does not name one: the first entry.</summary>
    public static ExportBackend Default => Registry.Entries[0];

    /// <summary>The backend of a canonical name ("onnx").</summary>
    /// <exception cref="InvalidInputException">No backend has that name (with a did-you-mean).</exception>
    public static ExportBackend Get(string name) => Registry.Get(name);

    /// <summary>The backend whose files have <paramref name="path"/>'s extension; null for any other file.</summary>
    public static ExportBackend? ForFile(string path) =>
        Registry.Entries.FirstOrDefault(b => Path.GetExtension(path).Equals(b.FileExtension, StringComparison.OrdinalIgnoreCase));

    /// <summary>The titles of the backends <paramref name="which"/> picks, for sentences: "ONNX or TFLite", "ONNX, TFLite or Core ML".</summary>
    public static string Titles(Func<ExportBackend, bool> which)
    {
        var titles = Registry.Entries.Where(which).Select(b => b.Title).ToList();
        return titles.Count <= 2 ? string.Join(" or ", titles) : $"{string.Join(", ", titles[..^1])} or {titles[^1]}";
    }
}
