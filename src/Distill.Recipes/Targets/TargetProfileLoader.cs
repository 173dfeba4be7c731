using System.Globalization;
using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Recipes.Targets;

/// <summary>Reads a hardware target profile (configs/targets/*.yaml) into a <see cref="TargetProfile"/>.
/// Every problem, unknown keys included, is reported as file:line:column: key: problem.</summary>
public static class TargetProfileLoader
{
    private static readonly string[] TopKeys = ["name", "description", "format", "precision", "weights", "activations", "calibration", "io", "fp32_io", "opset", "first_layer"];
    private static readonly string[] WeightKeys = ["bits", "reduce_range", "symmetric", "per_channel", "signed", "narrow_range"];
    private static readonly string[] ActivationKeys = ["bits", "signed", "symmetric"];
    private static readonly string[] CalibrationKeys = ["method", "batches", "batch_size", "percentile"];

    private static readonly Dictionary<string, ObserverKind> Methods =
        Observers.Registry.Entries.ToDictionary(e => e.Name, e => e.Kind);

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
        var reader = new Reader(path);
        var profile = reader.Read(root);
        if (reader.Errors.Count > 0)
            throw new InvalidInputException(string.Join(Environment.NewLine, reader.Errors.OrderBy(e => e.Line).ThenBy(e => e.Column).Select(e => e.Text)));
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

    private sealed class Reader(string path)
    {
        public List<(long Line, long Column, string Text)> Errors { get; } = [];

        public TargetProfile Read(YamlMappingNode root)
        {
            var map = Keys(root, "", TopKeys);
            string name = Text(map, "name", "") ?? "";
            if (name.Length == 0 && !map.ContainsKey("name"))
                Error(root, "name", "is required");
            else if (name.Length > 0 && !PlainName.IsValid(name))
                Error(map["name"].Value, "name", $"'{PrintableText.Escape(name)}' must be {PlainName.Rule}: it names the export folder exports/<name>/");
            var format = Choice(map, "format", new() { ["onnx"] = ExportFormat.Onnx, ["tflite"] = ExportFormat.Tflite }, ExportFormat.Onnx);
            var precision = Choice(map, "precision", new()
            {
                ["fp32"] = ExportPrecision.Float32,
                ["fp16"] = ExportPrecision.Float16,
                ["int8"] = ExportPrecision.Int8,
            }, ExportPrecision.Float32);

            var weights = QuantScheme.WeightInt8PerChannel;
            if (Mapping(map, "weights") is { } w)
            {
                var keys = Keys(w, "weights.", WeightKeys);
                weights = new QuantScheme
                {
                    Bits = Int(keys, "bits", "weights.", 8, QuantScheme.MinBits, QuantScheme.MaxBits),
                    Symmetric = Bool(keys, "symmetric", "weights.", true),
                    PerChannel = Bool(keys, "per_channel", "weights.", true),
                    Signed = Bool(keys, "signed", "weights.", true),
                    NarrowRange = Bool(keys, "narrow_range", "weights.", true),
                };
                if (Bool(keys, "reduce_range", "weights.", false))
                {
                    if (weights.Bits != 8)
                        Error(keys["reduce_range"].Value, "weights.reduce_range", "reduce_range means 7-bit weights; leave bits at 8");
                    weights = weights with { Bits = 7 };
                }
            }
            var activations = QuantScheme.ActivationInt8;
            if (Mapping(map, "activations") is { } a)
            {
                var keys = Keys(a, "activations.", ActivationKeys);
                activations = new QuantScheme
                {
                    Bits = Int(keys, "bits", "activations.", 8, QuantScheme.MinBits, QuantScheme.MaxBits),
                    Signed = Bool(keys, "signed", "activations.", true),
                    Symmetric = Bool(keys, "symmetric", "activations.", false),
                };
            }
            var calibration = ObserverKind.MinMax;
            int batches = 16, batchSize = 64;
            var observer = new ObserverOptions();
            if (Mapping(map, "calibration") is { } c)
            {
                var keys = Keys(c, "calibration.", CalibrationKeys);
                calibration = Choice(keys, "method", Methods, ObserverKind.MinMax, "calibration.");
                batches = Int(keys, "batches", "calibration.", 16, 1, 100_000);
                batchSize = Int(keys, "batch_size", "calibration.", 64, 1, 100_000);
                double percentile = Number(keys, "percentile", "calibration.", 99.99);
                if (!(percentile > 50 && percentile <= 100))
                    Error(keys["percentile"].Value, "calibration.percentile", $"must be in (50, 100], got {percentile.ToString(CultureInfo.InvariantCulture)}");
                observer = observer with { Percentile = percentile };
            }
            bool integerIo = Choice(map, "io", new() { ["float"] = false, ["int8"] = true }, false);
            if (map.TryGetValue("io", out var io) && format != ExportFormat.Tflite)
                Error(io.Value, "io", "applies to TFLite int8 files only; ONNX files take float input");
            bool fp32Io = Bool(map, "fp32_io", "", true);
            if (map.TryGetValue("fp32_io", out var f) && precision != ExportPrecision.Float16)
                Error(f.Value, "fp32_io", "applies to fp16 files only");
            bool firstLayerFloat = Choice(map, "first_layer", new() { ["integer"] = false, ["float"] = true }, false);
            if (map.TryGetValue("first_layer", out var first) && (format != ExportFormat.Onnx || precision != ExportPrecision.Int8))
                Error(first.Value, "first_layer", "applies to int8 ONNX files only (TFLite int8 is full-integer)");
            int opset = Int(map, "opset", "", 17, 13, 22);
            if (map.TryGetValue("opset", out var o) && format != ExportFormat.Onnx)
                Error(o.Value, "opset", "applies to ONNX files only");
            return new TargetProfile
            {
                Name = name,
                Description = Text(map, "description", "") ?? "",
                Format = format,
                Precision = precision,
                Weights = weights,
                Activations = activations,
                Calibration = calibration,
                CalibrationBatches = batches,
                CalibrationBatchSize = batchSize,
                Observer = observer,
                IntegerIo = integerIo,
                FirstLayerFloat = firstLayerFloat,
                Float32Io = fp32Io,
                Opset = opset,
                Source = Path.GetFullPath(path),
            };
        }

        private Dictionary<string, (YamlNode Key, YamlNode Value)> Keys(YamlMappingNode node, string prefix, string[] allowed)
        {
            var keys = new Dictionary<string, (YamlNode, YamlNode)>(StringComparer.Ordinal);
            foreach (var (key, value) in node.Children)
            {
                string name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name))
                    Error(key, prefix + name, $"unknown key; allowed: {string.Join(", ", allowed)}");
                else if (!keys.TryAdd(name, (key, value)))
                    Error(key, prefix + name, "appears twice");
            }
            return keys;
        }

        private YamlMappingNode? Mapping(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key)
        {
            if (!map.TryGetValue(key, out var entry))
                return null;
            if (entry.Value is YamlMappingNode mapping)
                return mapping;
            Error(entry.Value, key, "must be a mapping");
            return null;
        }

        private string? Scalar(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key, string prefix)
        {
            if (!map.TryGetValue(key, out var entry))
                return null;
            if (entry.Value is YamlScalarNode { Value: { Length: > 0 } value })
                return value;
            Error(entry.Value, prefix + key, "must be a value");
            return null;
        }

        private string? Text(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key, string prefix) => Scalar(map, key, prefix);

        private T Choice<T>(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key, Dictionary<string, T> allowed, T fallback, string prefix = "")
        {
            if (Scalar(map, key, prefix) is not { } value)
                return fallback;
            if (allowed.TryGetValue(value, out var result))
                return result;
            Error(map[key].Value, prefix + key, $"'{value}' is not one of {string.Join(" | ", allowed.Keys)}");
            return fallback;
        }

        private bool Bool(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key, string prefix, bool fallback)
        {
            if (Scalar(map, key, prefix) is not { } value)
                return fallback;
            if (value is "true" or "false")
                return value == "true";
            Error(map[key].Value, prefix + key, $"must be true or false, got '{value}'");
            return fallback;
        }

        private int Int(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key, string prefix, int fallback, int min, int max)
        {
            if (Scalar(map, key, prefix) is not { } value)
                return fallback;
            if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max)
                return n;
            Error(map[key].Value, prefix + key, $"must be an integer in [{min}, {max}], got '{value}'");
            return fallback;
        }

        private double Number(Dictionary<string, (YamlNode Key, YamlNode Value)> map, string key, string prefix, double fallback)
        {
            if (Scalar(map, key, prefix) is not { } value)
                return fallback;
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
                return d;
            Error(map[key].Value, prefix + key, $"must be a number, got '{value}'");
            return fallback;
        }

        private void Error(YamlNode node, string key, string problem) =>
            Errors.Add((node.Start.Line, node.Start.Column, $"{path}:{node.Start.Line}:{node.Start.Column}: {key}: {problem}"));
    }
}
