using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Distill.Recipes.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Recipes.Targets;

/// <summary>Reads a hardware target profile (configs/targets/*.yaml) into a <see cref="TargetProfile"/>, validated
/// against <see cref="TargetSchema"/> by the recipe machinery. Every problem, unknown keys included, is reported as
/// file:line:column: key: problem, with did-you-mean for misspelt keys and names.</summary>
public static class TargetProfileLoader
{
    /// <exception cref="InvalidInputException">The file is missing, not YAML, or has a bad field.</exception>
    public static TargetProfile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read the target profile: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <exception cref="InvalidInputException">The text is not YAML or has bad fields: every problem, one a line, in file order.</exception>
    public static TargetProfile Parse(string yaml, string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new InvalidInputException($"{path}:{e.Start.Line}:{e.Start.Column}: YAML syntax error: {e.Message}", e);
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new InvalidInputException($"{path}:1:1: a target profile is one YAML mapping (name, format, precision, ...)");

        var errors = new List<RecipeError>();
        var values = new Validator(new NodeLocator(path), Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", errors)
            .Validate(root, TargetSchema.Root, "") as MapValue;
        if (values is not null)
            CrossCheck(values, root, [.. root.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? "")], errors);
        if (errors.Count > 0 || values is null)
            throw new InvalidInputException(string.Join(Environment.NewLine, errors.OrderBy(e => e.Line).ThenBy(e => e.Column)));
        var profile = Bind(values, path);
        try
        {
            profile.Validate();
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"{path}:{root.Start.Line}:{root.Start.Column}: {e.Message.Replace(profile.Source + ": ", "", StringComparison.Ordinal)}", e);
        }
        return profile;
    }

    /// <summary>The rules that involve two keys, for the keys the file writes (<paramref name="written"/>); each
    /// error sits at the value it concerns.</summary>
    private static void CrossCheck(MapValue values, YamlMappingNode root, HashSet<string> written, List<RecipeError> errors)
    {
        void Check(string key, bool wrong, string problem)
        {
            if (wrong && written.Contains(key) && values.Get(key) is { } value)
                errors.Add(value.At.Error($"{key}: {problem}"));
        }

        if (values.Str("name") is { } name)
            Check("name", !PlainName.IsValid(name), $"'{PrintableText.Escape(name)}' must be {PlainName.Rule}: it names the export folder exports/<name>/");
        if (values.Map("int4")?.Map("auto") is { } auto && AutoTargets(root) != 1)
            errors.Add(auto.At.Error("int4.auto: give exactly one of max_drop (bits per byte) and size_budget_bytes"));
        if (values.Map("weights") is { } w && w.Raw("reduce_range") is true && w.Raw("bits") is long and not 8)
            errors.Add(w.Get("reduce_range")!.At.Error("weights.reduce_range: reduce_range means 7-bit weights; leave bits at 8"));
        string? precision = values.Str("precision");
        if (values.Str("format") is not { } format || ExportBackends.Registry.Find(format) is not { } backend || precision is null)
            return;
        // The keys only some formats read, each with the formats that read it (from the registry).
        Check("io", !backend.IntegerIo,
            $"applies to {ExportBackends.Titles(b => b.IntegerIo)} int8 files only; {ExportBackends.Titles(b => !b.IntegerIo)} files take float input");
        Check("fp32_io", precision != "fp16", "applies to fp16 files only");
        Check("first_layer", !backend.FirstLayerFloat || precision != "int8",
            $"applies to int8 {ExportBackends.Titles(b => b.FirstLayerFloat)} files only ({ExportBackends.Titles(b => !b.FirstLayerFloat && !b.Int8WeightsOnly)} int8 is full-integer)");
        Check("opset", !backend.Opset, $"applies to {ExportBackends.Titles(b => b.Opset)} files only");
        Check("kv_cache", values.Raw("kv_cache") is true && backend.LanguageModels is null,
            $"applies to language-model files, which {ExportBackends.Titles(b => b.LanguageModels is not null)} writes; {backend.Title} writes classifiers only");
        Check("activations", backend.Int8WeightsOnly,
            $"{backend.Title} int8 files quantise weights only (activations stay float); the key applies to {ExportBackends.Titles(b => !b.Int8WeightsOnly)} int8 files");
        Check("int4", precision != "int4", "applies to int4 files only (precision: int4)");
        Check("weights", precision == "int4", "int4 files take their weight settings from int4: (group_size, symmetric, method)");
        Check("calibration", precision == "int4", "int4 files are calibrated by GPTQ on training windows (int4.calibration_windows); activations are not calibrated");
        Check("calibration", backend.Int8WeightsOnly,
            $"{backend.Title} int8 files quantise weights only and need no calibration; the key applies to {ExportBackends.Titles(b => !b.Int8WeightsOnly)} int8 files");
    }

    /// <summary>How many of int4.auto's targets the file writes, valid or not (an invalid value is reported at itself).</summary>
    private static int AutoTargets(YamlMappingNode root) =>
        root.Children.TryGetValue(new YamlScalarNode("int4"), out var int4) && int4 is YamlMappingNode i4
            && i4.Children.TryGetValue(new YamlScalarNode("auto"), out var auto) && auto is YamlMappingNode a
            ? a.Children.Keys.OfType<YamlScalarNode>().Count(k => k.Value is "max_drop" or "size_budget_bytes")
            : 0;

    /// <summary>The profile that validated, cross-checked values describe; absent keys have the record's defaults.</summary>
    private static TargetProfile Bind(MapValue values, string path)
    {
        var defaults = new TargetProfile { Name = (string)values.Raw("name")! };
        var weights = defaults.Weights;
        if (values.Map("weights") is { } w)
        {
            weights = defaults.Weights with
            {
                Bits = Bool(w, "reduce_range") ? 7 : Int(w, "bits"),
                Symmetric = Bool(w, "symmetric"),
                PerChannel = Bool(w, "per_channel"),
                Signed = Bool(w, "signed"),
                NarrowRange = Bool(w, "narrow_range"),
            };
        }
        var activations = values.Map("activations") is { } a
            ? defaults.Activations with { Bits = Int(a, "bits"), Signed = Bool(a, "signed"), Symmetric = Bool(a, "symmetric") }
            : defaults.Activations;
        var calibration = values.Map("calibration");
        var int4 = values.Map("int4") is { } i4
            ? new LmInt4Weights(
                int.Parse((string)i4.Raw("group_size")!, System.Globalization.CultureInfo.InvariantCulture),
                Bool(i4, "symmetric"),
                Enum.GetValues<Int4Method>().First(m => LmInt4Weights.MethodName(m) == (string)i4.Raw("method")!),
                Int(i4, "accuracy_level"),
                Int(i4, "calibration_windows"),
                (double)i4.Raw("damp")!,
                i4.Map("auto") is { } auto
                    ? new LmInt4Auto(
                        auto.Raw("max_drop") is { } drop ? Convert.ToDouble(drop, System.Globalization.CultureInfo.InvariantCulture) : null,
                        auto.Raw("size_budget_bytes") is { } budget ? (long)budget : null)
                    : null)
            : defaults.Int4;
        return defaults with
        {
            Description = (string)values.Raw("description")!,
            Format = ExportBackends.Get((string)values.Raw("format")!),
            Precision = TargetSchema.Precisions.First(p => p.Name == (string)values.Raw("precision")!).Value,
            Weights = weights,
            Activations = activations,
            Calibration = calibration is null ? defaults.Calibration : Observers.Registry.Get((string)calibration.Raw("method")!).Kind,
            CalibrationBatches = calibration is null ? defaults.CalibrationBatches : Int(calibration, "batches"),
            CalibrationBatchSize = calibration is null ? defaults.CalibrationBatchSize : Int(calibration, "batch_size"),
            Observer = calibration is null ? defaults.Observer : defaults.Observer with { Percentile = (double)calibration.Raw("percentile")! },
            IntegerIo = (string)values.Raw("io")! == "int8",
            Float32Io = Bool(values, "fp32_io"),
            FirstLayerFloat = (string)values.Raw("first_layer")! == "float",
            Opset = Int(values, "opset"),
            KvCache = Bool(values, "kv_cache"),
            Int4 = int4,
            Source = Path.GetFullPath(path),
        };
    }

    private static int Int(MapValue map, string key) => checked((int)(long)map.Raw(key)!);

    private static bool Bool(MapValue map, string key) => (bool)map.Raw(key)!;
}
