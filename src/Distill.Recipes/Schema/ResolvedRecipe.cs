using Distill.Core.Tracking;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Distill.Recipes.Schema;

/// <summary>The resolved recipe (defaults filled in) as YAML and as flat run params.</summary>
internal static class ResolvedRecipe
{
    public static string ToYaml(MapValue root)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(ToNode(root))).Save(writer, assignAnchors: false);
        string text = writer.ToString().ReplaceLineEndings("\n");
        // YamlDotNet closes the document with "..."; a recipe file does not need it.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    /// <summary>
    /// stages[0].optimizer.lr -> stages.0.optimizer.lr = 0.002 (<see cref="ParamKeys"/>: valid MLflow names);
    /// lists of scalars stay one value: student.model.channels -> [8, 16].
    /// </summary>
    public static IReadOnlyDictionary<string, string> Flatten(MapValue root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        Flatten(root, "", result);
        return result;
    }

    private static void Flatten(Value value, string path, IDictionary<string, string> result)
    {
        switch (value)
        {
            case MapValue map:
                foreach (var entry in map.Entries)
                {
                    Flatten(entry.Value, ParamKeys.Entry(path, entry.Key), result);
                }
                break;
            case ListValue list when list.Items.Any(i => i is MapValue):
                for (int i = 0; i < list.Items.Count; i++)
                {
                    Flatten(list.Items[i], ParamKeys.Item(path, i), result);
                }
                break;
            default:
                result[path] = ValueText.Format(value);
                break;
        }
    }

    private static YamlNode ToNode(Value value) => value switch
    {
        MapValue map => new YamlMappingNode(map.Entries.Select(e =>
            new KeyValuePair<YamlNode, YamlNode>(new YamlScalarNode(e.Key), ToNode(e.Value)))),
        ListValue list => new YamlSequenceNode(list.Items.Select(ToNode))
        {
            Style = list.Items.Any(i => i is MapValue) ? SequenceStyle.Block : SequenceStyle.Flow,
        },
        ScalarValue scalar => Scalar(scalar),
        _ => throw new ArgumentException($"unknown value {value.GetType().Name}", nameof(value)),
    };

    private static YamlScalarNode Scalar(ScalarValue scalar)
    {
        var node = new YamlScalarNode(ValueText.Format(scalar.Raw));
        // A string that reads as a number, bool or null in YAML is quoted so that it stays a string.
        if (scalar.Raw is string text && LooksLikeNonString(text))
        {
            node.Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted;
        }
        return node;
    }

    private static bool LooksLikeNonString(string text) =>
        text.Length == 0 || text is "~" or "null" or "Null" or "NULL" or "true" or "True" or "TRUE" or "false" or "False" or "FALSE"
        || double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);
}
