using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// The meta.yaml files of MLflow's file store, written and read with YamlDotNet: a flat mapping with
/// its keys sorted (as PyYAML writes it). Text is always double-quoted, so that PyYAML reads it back
/// as text whatever it looks like ("1", "on", "1:30"); numbers are plain; null is null; a list is
/// written empty and in flow style (tags: [], as MLflow keeps it for older readers).
/// </summary>
internal static class MlflowMetaYaml
{
    public const string FileName = "meta.yaml";

    /// <summary>Writes the fields; a value is a string, a long, null, or an empty list (string[] with no items).</summary>
    public static void Write(string path, IReadOnlyDictionary<string, object?> fields)
    {
        var mapping = new YamlMappingNode();
        foreach (var (key, value) in fields.OrderBy(f => f.Key, StringComparer.Ordinal))
            mapping.Add(new YamlScalarNode(key), Node(key, value));
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(mapping)).Save(writer, assignAnchors: false);
        string text = writer.ToString().ReplaceLineEndings("\n");
        AtomicFile.WriteText(path, text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text);
    }

    /// <summary>The top-level scalar fields of a meta.yaml as text; null when the file is missing or not a YAML mapping.</summary>
    public static IReadOnlyDictionary<string, string>? Read(string path)
    {
        if (!File.Exists(path))
            return null;
        try
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(path))
                stream.Load(reader);
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode mapping)
                return null;
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in mapping.Children)
            {
                if (key is YamlScalarNode { Value: { } name } && value is YamlScalarNode { Value: { } text })
                    fields[name] = text;
            }
            return fields;
        }
        catch (YamlException)
        {
            return null;
        }
    }

    private static YamlNode Node(string key, object? value) => value switch
    {
        null => new YamlScalarNode("null") { Style = ScalarStyle.Plain },
        string text => new YamlScalarNode(text) { Style = ScalarStyle.DoubleQuoted },
        long number => new YamlScalarNode(number.ToString(System.Globalization.CultureInfo.InvariantCulture)) { Style = ScalarStyle.Plain },
        int number => new YamlScalarNode(number.ToString(System.Globalization.CultureInfo.InvariantCulture)) { Style = ScalarStyle.Plain },
        string[] { Length: 0 } => new YamlSequenceNode { Style = YamlDotNet.Core.Events.SequenceStyle.Flow },
        _ => throw new ArgumentException($"meta.yaml field '{key}': unsupported value {value.GetType().Name}", nameof(value)),
    };
}
