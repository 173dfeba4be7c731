using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Distill.Runtime;

/// <summary>Median latency of one variant in milliseconds per call, at batch 1 and batch 64.</summary>
public sealed record VariantLatency(double Batch1Ms, double Batch64Ms);

/// <summary>One model of a family: its ONNX file (relative to the manifest) and what it was measured to cost; the model
/// card of its export (preprocessing, classes) when there is one.</summary>
public sealed record FamilyVariant(
    string Name,
    string File,
    string Sha256,
    long Parameters,
    long SizeBytes,
    double TestAccuracy,
    VariantLatency Latency,
    long? PeakMemoryBytes,
    double EnergyMjPerInference,
    string EnergyMethod,
    string? ModelCard = null)
{
    /// <summary>What "cheapest" means on battery: energy per inference, then latency.</summary>
    internal (double, double) Cost => (EnergyMjPerInference, Latency.Batch1Ms);
}

/// <summary>How the measurements were taken.</summary>
public sealed record FamilyMeasurement(int Threads, int Runs, string Machine);

/// <summary>The family's input: its ONNX name and the shape of one sample (no batch dimension).</summary>
public sealed record FamilyInput(string Name, int[] Shape)
{
    public int SampleLength => Shape.Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// A model family as `distill export --family` writes it (exports/&lt;target&gt;/family/manifest.json): the variants of one
/// student, each measured on the target profile, and the default policy that picks one for a device state.
/// </summary>
public sealed record FamilyManifest(
    int Version,
    string Target,
    FamilyInput Input,
    FamilyMeasurement MeasuredWith,
    FamilyVariant[] Variants,
    FamilyPolicy Policy)
{
    public const int CurrentVersion = 1;
    public const string FileName = "manifest.json";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The folder the manifest was read from; variant files are relative to it.</summary>
    [JsonIgnore]
    public string Directory { get; init; } = "";

    public string PathOf(FamilyVariant variant) => System.IO.Path.Combine(Directory, variant.File);

    public FamilyVariant Variant(string name) =>
        Variants.FirstOrDefault(v => v.Name == name)
        ?? throw new ArgumentException($"the family has no variant '{name}' (it has {string.Join(", ", Variants.Select(v => v.Name))})");

    /// <summary>Reads and checks a manifest: the fields, at least two variants with distinct names, and (unless
    /// <paramref name="verifyFiles"/> is false) that every variant's file exists and has the recorded sha256.</summary>
    public static FamilyManifest Load(string path, bool verifyFiles = true)
    {
        FamilyManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<FamilyManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new ManifestException(path, $"not a family manifest: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManifestException(path, $"cannot be read: {e.Message}");
        }
        if (manifest is null)
            throw new ManifestException(path, "is empty");
        manifest = manifest with { Directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))! };
        manifest.Check(path, verifyFiles);
        return manifest;
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");

    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private void Check(string path, bool verifyFiles)
    {
        if (Version != CurrentVersion)
            throw new ManifestException(path, $"has version {Version}; this runtime reads version {CurrentVersion}");
        if (Input is null || Input.Shape is null || Input.Shape.Length == 0 || Input.Shape.Any(d => d < 1))
            throw new ManifestException(path, "needs input.name and input.shape (the positive dimensions of one sample)");
        if (Variants is null || Variants.Length < 2)
            throw new ManifestException(path, $"has {Variants?.Length ?? 0} variant(s); a family needs at least two");
        if (Policy is null)
            throw new ManifestException(path, "has no policy");
        var duplicate = Variants.GroupBy(v => v.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ManifestException(path, $"names variant '{duplicate.Key}' twice");
        foreach (var variant in Variants)
        {
            if (string.IsNullOrEmpty(variant.File) || System.IO.Path.IsPathRooted(variant.File) || variant.File.Contains(".."))
                throw new ManifestException(path, $"variant '{variant.Name}': file '{variant.File}' must be a path inside the manifest's folder");
            if (variant.Latency is null)
                throw new ManifestException(path, $"variant '{variant.Name}' has no latency");
            if (!verifyFiles)
                continue;
            string file = PathOf(variant);
            if (!System.IO.File.Exists(file))
                throw new ManifestException(path, $"variant '{variant.Name}': {file} does not exist");
            string actual = Sha256Of(file);
            if (!string.Equals(actual, variant.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new ManifestException(path, $"variant '{variant.Name}': {file} has sha256 {actual}, the manifest says {variant.Sha256}");
        }
        Policy.Check(path, this);
    }
}

/// <summary>A manifest that cannot be used; the message names the file.</summary>
public sealed class ManifestException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string Path { get; } = path;
}
