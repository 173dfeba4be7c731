using System.Globalization;
using Distill.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Recipes.Schema;

/// <summary>Checks a YAML tree against the schema, collecting every error, and returns the values with
/// defaults filled in (partial where the tree was wrong).</summary>
internal sealed class Validator(NodeLocator locate, string baseDirectory, List<RecipeError> errors)
{
    public Value? Validate(YamlNode node, SchemaNode schema, string path) => schema switch
    {
        MapSchema map => ValidateMap(node, map, path),
        ListSchema list => ValidateList(node, list, path),
        ScalarSchema scalar => ValidateScalar(node, scalar, path),
        _ => throw new ArgumentException($"unknown schema node {schema.GetType().Name}", nameof(schema)),
    };

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } s
        && (s.Value ?? "") is "" or "~" or "null" or "Null" or "NULL";

    private void Error(Location at, string path, string message) =>
        errors.Add(at.Error(path.Length == 0 ? message : $"{path}: {message}"));

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "nothing",
        YamlScalarNode s => Quote(s.Value ?? ""),
        _ => "an alias",
    };

    /// <summary>A value as an error message shows it: quoted, and cut short when long.</summary>
    public static string Quote(string text) =>
        text.Length <= 80 ? $"'{text}'" : $"'{text[..60]}…' ({N(text.Length)} characters)";

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Over(Limit limit) => limit.Why.Length == 0 ? $"at most {limit.Text}" : $"at most {limit.Text} ({limit.Why})";

    private MapValue? ValidateMap(YamlNode node, MapSchema schema, string path)
    {
        if (node is not YamlMappingNode mapping)
        {
            Error(locate.Of(node), path, $"expected a mapping, got {Describe(node)}");
            return null;
        }
        var at = locate.Of(mapping);
        var present = new Dictionary<string, (YamlNode Key, YamlNode Value)>();
        var chosenEntries = new List<Entry>();
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Error(locate.Of(keyNode), path, "keys must be plain names");
                continue;
            }
            if (schema.Find(key) is null && schema.AnyKey is { } anyKey)
            {
                if (key.Length > RecipeLimits.ChosenKey.Value)
                {
                    Error(locate.Of(keyNode), path, $"key {Quote(key)} is {N(key.Length)} characters long; {Over(RecipeLimits.ChosenKey)}");
                    continue;
                }
                if (chosenEntries.Count == RecipeLimits.ListItems.Value)
                {
                    Error(locate.Of(keyNode), path, $"has more than {RecipeLimits.ListItems.Text} entries; {Over(RecipeLimits.ListItems)}");
                    break;
                }
                if (Validate(valueNode, anyKey, Paths.Join(path, key)) is { } chosen)
                {
                    chosenEntries.Add(new Entry(key, locate.Of(keyNode), chosen));
                }
                continue;
            }
            if (schema.Find(key) is null)
            {
                string message = schema.Forbidden.TryGetValue(key, out var why)
                    ? $"'{key}' is not allowed here: {why}"
                    : $"unknown key {Quote(key)}{Suggest.DidYouMean(key, schema.Keys)}; allowed keys: {string.Join(", ", schema.Keys)}";
                Error(locate.Of(keyNode), path, message);
                continue;
            }
            present[key] = (keyNode, valueNode);
        }

        var result = new MapValue(at);
        // Conditional keys depend on sibling values (format, arch, normalize), so those come second.
        foreach (var field in schema.Fields.Where(f => f.When is null))
        {
            Resolve(field, present, result, path, applies: true);
        }
        foreach (var field in schema.Fields.Where(f => f.When is not null))
        {
            bool? applies = Applies(field.When!, result);
            if (applies == false)
            {
                if (present.TryGetValue(field.Key, out var entry))
                {
                    Error(locate.Of(entry.Key), Paths.Join(path, field.Key), $"only allowed when {field.When!.Describe(path)}");
                }
                continue;
            }
            Resolve(field, present, result, path, applies == true);
        }
        result.SortBy(schema);
        foreach (var entry in chosenEntries)
        {
            result.Add(entry);
        }
        return result;
    }

    /// <summary>Null when the sibling the condition reads is itself missing or invalid.</summary>
    private static bool? Applies(Condition when, MapValue siblings) =>
        siblings.Str(when.Key) is { } value ? when.Values.Contains(value) : null;

    private void Resolve(Field field, Dictionary<string, (YamlNode Key, YamlNode Value)> present, MapValue result, string path, bool applies)
    {
        string fieldPath = Paths.Join(path, field.Key);
        if (present.TryGetValue(field.Key, out var entry) && !IsNull(entry.Value))
        {
            if (Validate(entry.Value, field.Schema, fieldPath) is { } value)
            {
                result.Add(new Entry(field.Key, locate.Of(entry.Key), value));
            }
            else
            {
                result.MarkInvalid(field.Key);
            }
            return;
        }
        if (!applies)
        {
            return;
        }
        if (field.Required)
        {
            if (present.TryGetValue(field.Key, out var empty))
            {
                Error(locate.Of(empty.Key), fieldPath, "needs a value");
            }
            else
            {
                Error(result.At, path, $"missing required key '{field.Key}'");
            }
            return;
        }
        var keyAt = present.TryGetValue(field.Key, out var nullEntry) ? locate.Of(nullEntry.Key) : result.At;
        object? fallback = field.Default ?? field.DefaultFrom?.Invoke(result);
        if (fallback is not null)
        {
            result.Add(new Entry(field.Key, keyAt, ValueText.FromDefault(fallback, keyAt)));
            result.MarkDefault(field.Key);
        }
        else if (field.DefaultEmpty && field.Schema is MapSchema map)
        {
            var empty = new YamlMappingNode();
            locate.Place(empty, keyAt);
            if (ValidateMap(empty, map, fieldPath) is { } filled)
            {
                result.Add(new Entry(field.Key, keyAt, filled));
            }
        }
    }

    private ListValue? ValidateList(YamlNode node, ListSchema schema, string path)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Error(locate.Of(node), path, $"expected a list, got {Describe(node)}");
            return null;
        }
        var at = locate.Of(sequence);
        int count = sequence.Children.Count;
        var most = schema.MaxCount ?? RecipeLimits.ListItems;
        if (count > most.Value)
        {
            // Its items are not looked at: a list this long is refused whole, quickly.
            Error(at, path, $"has {N(count)} items; {Over(most)}");
            return null;
        }
        if (schema.ExactCount is { } exact && count != exact)
        {
            Error(at, path, $"needs exactly {exact} items, got {count}");
        }
        else if (count < schema.MinCount)
        {
            Error(at, path, schema.MinCount == 1 ? "needs at least one item" : $"needs at least {schema.MinCount} items, got {count}");
        }
        var items = new List<Value>();
        bool allValid = true;
        for (int i = 0; i < count; i++)
        {
            if (Validate(sequence.Children[i], schema.Item, $"{path}[{i}]") is { } item)
            {
                items.Add(item);
            }
            else
            {
                allValid = false;
            }
        }
        // A list of scalars with a bad item is dropped whole; a list of mappings keeps its good items for cross-checks.
        if (!allValid && schema.Item is not MapSchema)
        {
            return null;
        }
        var list = new ListValue(at, items);
        if (schema.Item is ScalarSchema && ValueText.Format(list).Length is var written && written > RecipeLimits.ParamValue.Value)
        {
            Error(at, path, $"is {N(written)} characters long written out as one value ([a, b, …]); {Over(RecipeLimits.ParamValue)}");
            return null;
        }
        return list;
    }

    private ScalarValue? ValidateScalar(YamlNode node, ScalarSchema schema, string path)
    {
        var at = locate.Of(node);
        string expected = schema.Kind switch
        {
            ScalarKind.Integer => "an integer",
            ScalarKind.Number => "a number",
            ScalarKind.Boolean => "true or false",
            ScalarKind.Path or ScalarKind.Folder or ScalarKind.ExistingFolder => "a path",
            ScalarKind.Checkpoint => "a path or runs:/<run>/<artifact path>",
            ScalarKind.Target => "a target name or profile file",
            ScalarKind.Enum => "one of " + string.Join(" | ", schema.Allowed),
            _ => "a string",
        };
        if (node is not YamlScalarNode scalar || IsNull(node))
        {
            Error(at, path, $"expected {expected}, got {Describe(node)}");
            return null;
        }
        string text = scalar.Value ?? "";
        object? raw = Parse(text, schema, path, at, expected);
        return raw is null ? null : new ScalarValue(at, raw);
    }

    private object? Parse(string text, ScalarSchema schema, string path, Location at, string expected)
    {
        switch (schema.Kind)
        {
            case ScalarKind.Integer:
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long integer))
                {
                    Error(at, path, $"expected {expected}, got {Quote(text)}");
                    return null;
                }
                return InRange(integer, schema, path, at) ? integer : null;
            case ScalarKind.Number:
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || !double.IsFinite(number))
                {
                    Error(at, path, $"expected {expected}, got {Quote(text)}");
                    return null;
                }
                return InRange(number, schema, path, at) ? number : null;
            case ScalarKind.Boolean:
                if (text is "true" or "True" or "TRUE")
                {
                    return true;
                }
                if (text is "false" or "False" or "FALSE")
                {
                    return false;
                }
                Error(at, path, $"expected {expected}, got {Quote(text)}");
                return null;
            case ScalarKind.Enum:
                if (schema.Allowed.Contains(text))
                {
                    return text;
                }
                Error(at, path, $"must be one of {string.Join(" | ", schema.Allowed)}, got {Quote(text)}{Suggest.DidYouMean(text, schema.Allowed)}");
                return null;
            case ScalarKind.Path:
                return FullPath(text, path, at) is { } file && ShortEnough(file, schema, path, at) && ExistingFile(file, path, at) ? file : null;
            case ScalarKind.Checkpoint when Core.Tracking.RunReference.IsReference(text):
                // Only its form here: the store it is looked up in is known once the whole recipe is (ReferenceChecks).
                if (!ShortEnough(text, schema, path, at))
                    return null;
                try
                {
                    Core.Tracking.RunReference.Parse(text);
                    return text;
                }
                catch (Core.InvalidInputException e)
                {
                    Error(at, path, e.Message);
                    return null;
                }
            case ScalarKind.Checkpoint:
                return FullPath(text, path, at) is { } checkpoint && ShortEnough(checkpoint, schema, path, at) && ExistingFile(checkpoint, path, at) ? checkpoint : null;
            case ScalarKind.Folder:
                return FullPath(text, path, at) is { } folder && ShortEnough(folder, schema, path, at) ? folder : null;
            case ScalarKind.ExistingFolder:
                if (FullPath(text, path, at) is not { } existing || !ShortEnough(existing, schema, path, at))
                    return null;
                if (Directory.Exists(existing))
                    return existing;
                Error(at, path, File.Exists(existing) ? $"{existing} is a file, not a folder" : $"folder not found: {existing}");
                return null;
            case ScalarKind.Target:
                // A profile file becomes its full path; a name stays a name (looked up in configs/targets when exporting).
                if (!ShortEnough(text, schema, path, at))
                    return null;
                return FullPath(text, path, at) is not { } profile ? null : File.Exists(profile) ? profile : text;
            default:
                if (!ShortEnough(text, schema, path, at))
                {
                    return null;
                }
                if (text.Length == 0 && !schema.AllowEmpty)
                {
                    Error(at, path, "must not be empty");
                    return null;
                }
                if (schema.Pattern is { } pattern && !pattern.IsMatch(text))
                {
                    Error(at, path, schema.PatternRule is { } rule ? $"must be {rule}, got {Quote(text)}" : $"must match {pattern}, got {Quote(text)}");
                    return null;
                }
                return text;
        }
    }

    private bool ShortEnough(string text, ScalarSchema schema, string path, Location at)
    {
        var most = schema.MaxLength ?? RecipeLimits.ParamValue;
        if (text.Length <= most.Value)
        {
            return true;
        }
        Error(at, path, $"is {N(text.Length)} characters long; {Over(most)}");
        return false;
    }

    private bool InRange(double value, ScalarSchema schema, string path, Location at)
    {
        if (schema.CheckRange(value) is { } complaint)
        {
            Error(at, path, complaint);
            return false;
        }
        return true;
    }

    /// <summary><paramref name="text"/> resolved against the recipe's folder; null (reported) when empty or not a path.</summary>
    private string? FullPath(string text, string path, Location at)
    {
        if (text.Length == 0)
        {
            Error(at, path, "must not be empty");
            return null;
        }
        try
        {
            return System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, text));
        }
        catch (ArgumentException)
        {
            Error(at, path, $"not a valid path: '{text}'");
            return null;
        }
    }

    private bool ExistingFile(string full, string path, Location at)
    {
        if (!File.Exists(full))
        {
            Error(at, path, Directory.Exists(full) ? $"{full} is a folder, not a file" : $"file not found: {full}");
            return false;
        }
        return true;
    }
}
