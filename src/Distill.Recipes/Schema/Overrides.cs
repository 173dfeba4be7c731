using System.Text.RegularExpressions;
using Distill.Core;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Recipes.Schema;

/// <summary>Applies "--set key=value" arguments to the YAML tree before validation, so that the values
/// they bring are validated like the file's and errors in them point at the argument.</summary>
internal static partial class Overrides
{
    /// <summary>A long index, so that one too large for any list is reported as out of range, not as an overflow.</summary>
    private sealed record Segment(string Name, long? Index, int Column);

    public static string FileOf(int number) => $"<command line>:--set {number}";

    /// <param name="root">The recipe's root mapping, or null when the file could not be parsed
    /// (the overrides are then only checked against the schema).</param>
    public static void Apply(YamlMappingNode? root, IReadOnlyList<string> overrides, NodeLocator locate, List<RecipeError> errors)
    {
        for (int i = 0; i < overrides.Count; i++)
        {
            var single = new Single(overrides[i], FileOf(i + 1), locate, errors);
            single.Apply(root);
        }
    }

    [GeneratedRegex(@"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9]+)\])?$")]
    private static partial Regex SegmentPattern();

    private sealed class Single(string argument, string file, NodeLocator locate, List<RecipeError> errors)
    {
        public void Apply(YamlMappingNode? root)
        {
            int equals = argument.IndexOf('=');
            if (equals <= 0)
            {
                Error(1, $"expected key=value (e.g. stages[0].epochs=3), got '{argument}'");
                return;
            }
            var segments = ParsePath(argument[..equals]);
            if (segments is null || !CheckAgainstSchema(segments))
            {
                return;
            }
            var value = ParseValue(argument[(equals + 1)..], equals + 2);
            if (value is not null && root is not null)
            {
                SetInTree(root, segments, value);
            }
        }

        private void Error(int column, string message) => errors.Add(new RecipeError(file, 1, column, message));

        private List<Segment>? ParsePath(string key)
        {
            var segments = new List<Segment>();
            int column = 1;
            foreach (string part in key.Split('.'))
            {
                var match = SegmentPattern().Match(part);
                if (!match.Success)
                {
                    Error(column, $"'{key}' is not a key path; write it like seed, student.model.channels or stages[1].epochs");
                    return null;
                }
                long? index = null;
                if (match.Groups[2].Success)
                {
                    if (!long.TryParse(match.Groups[2].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long i))
                    {
                        Error(column, $"{part}: index out of range (lists count from 0)");
                        return null;
                    }
                    index = i;
                }
                segments.Add(new Segment(match.Groups[1].Value, index, column));
                column += part.Length + 1;
            }
            return segments;
        }

        private bool CheckAgainstSchema(List<Segment> segments)
        {
            SchemaNode current = RecipeSchema.Root;
            string path = "";
            for (int i = 0; i < segments.Count; i++)
            {
                var segment = segments[i];
                var map = (MapSchema)current;
                var field = map.Find(segment.Name);
                string where = path.Length == 0 ? "" : $"{path}: ";
                if (field is null)
                {
                    Error(segment.Column, map.Forbidden.TryGetValue(segment.Name, out var why)
                        ? $"{where}'{segment.Name}' is not allowed here: {why}"
                        : $"{where}unknown key '{segment.Name}'{Suggest.DidYouMean(segment.Name, map.Keys)}; allowed keys: {string.Join(", ", map.Keys)}");
                    return false;
                }
                path = Paths.Join(path, segment.Name);
                current = field.Schema;
                if (segment.Index is { } index)
                {
                    if (current is not ListSchema list)
                    {
                        Error(segment.Column, $"{path} is not a list; drop the [{index}]");
                        return false;
                    }
                    current = list.Item;
                    path += $"[{index}]";
                }
                if (i < segments.Count - 1 && current is not MapSchema)
                {
                    Error(segments[i + 1].Column, current is ListSchema
                        ? $"{path} is a list; pick an item, e.g. {path}[0].{segments[i + 1].Name}"
                        : $"{path} is a single value and has no key '{segments[i + 1].Name}'");
                    return false;
                }
            }
            return true;
        }

        private YamlNode? ParseValue(string text, int column)
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(text));
            }
            catch (YamlException e)
            {
                Error(column + (int)e.Start.Column - 1, $"value is not valid YAML: {e.Message}");
                return null;
            }
            catch (InvalidOperationException)
            {
                Error(column, "value is not valid YAML (an unclosed bracket or quote?)");
                return null;
            }
            if (stream.Documents.Count > 1)
            {
                Error(column, "value must be a single YAML value");
                return null;
            }
            if (stream.Documents.Count == 0)
            {
                var nothing = new YamlScalarNode("") { Style = ScalarStyle.Plain };
                locate.Place(nothing, new Location(file, 1, column));
                return nothing;
            }
            var root = stream.Documents[0].RootNode;
            foreach (var node in root.AllNodes)
            {
                locate.Place(node, new Location(file, 1, column + (int)node.Start.Column - 1));
            }
            return root;
        }

        private void SetInTree(YamlMappingNode root, List<Segment> segments, YamlNode value)
        {
            YamlMappingNode current = root;
            string path = "";
            for (int i = 0; i < segments.Count; i++)
            {
                var segment = segments[i];
                bool last = i == segments.Count - 1;
                var at = new Location(file, 1, segment.Column);
                path = Paths.Join(path, segment.Name);
                var key = current.Children.Keys.FirstOrDefault(k => k is YamlScalarNode s && s.Value == segment.Name);
                var child = key is null ? null : current.Children[key];
                if (key is null)
                {
                    key = new YamlScalarNode(segment.Name);
                    locate.Place(key, at);
                }

                if (segment.Index is not { } index)
                {
                    if (last)
                    {
                        current.Children[key] = value;
                        return;
                    }
                    if (Descend(child, at, path) is not { } next)
                    {
                        return;
                    }
                    current.Children[key] = next;
                    current = next;
                    continue;
                }

                if (child is not YamlSequenceNode sequence)
                {
                    Error(segment.Column, child is null || Validator.IsNull(child)
                        ? $"the recipe has no {path} to index"
                        : $"{path} is not a list in the recipe");
                    return;
                }
                if (index >= sequence.Children.Count)
                {
                    Error(segment.Column, $"{path}[{index}]: index out of range; the recipe has {sequence.Children.Count} item(s) (counting from 0)");
                    return;
                }
                path += $"[{index}]";
                if (last)
                {
                    sequence.Children[(int)index] = value;
                    return;
                }
                if (Descend(sequence.Children[(int)index], at, path) is not { } item)
                {
                    return;
                }
                sequence.Children[(int)index] = item;
                current = item;
            }
        }

        /// <summary>The mapping to continue in: the existing one, or a new one where the recipe has none.</summary>
        private YamlMappingNode? Descend(YamlNode? child, Location at, string path)
        {
            if (child is YamlMappingNode mapping)
            {
                return mapping;
            }
            if (child is null || Validator.IsNull(child))
            {
                var created = new YamlMappingNode();
                locate.Place(created, at);
                return created;
            }
            Error(at.Column, $"cannot set a key inside {path}: the recipe has a single value there, not a mapping");
            return null;
        }
    }
}
