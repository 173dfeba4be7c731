namespace Distill.Core.Tracking.Analysis;

public enum RunFieldKind { Metric, Param, Tag, Attribute }

/// <summary>
/// A value of a run that filters, sorts and tables refer to: metrics.&lt;key&gt;, params.&lt;key&gt;,
/// tags.&lt;key&gt; or attributes.&lt;status|name|experiment|start_time|id&gt;.
/// </summary>
public sealed record RunField(RunFieldKind Kind, string Key)
{
    public static readonly IReadOnlyList<string> Attributes = ["id", "name", "experiment", "status", "start_time"];

    public const string Help = "fields are metrics.<key>, params.<key>, tags.<key> and attributes.<id|name|experiment|status|start_time>";

    /// <summary>The column name in run tables: the field as written in a filter, e.g. "metrics.val/acc".</summary>
    public string ColumnName => Kind switch
    {
        RunFieldKind.Metric => "metrics." + Key,
        RunFieldKind.Param => "params." + Key,
        RunFieldKind.Tag => "tags." + Key,
        _ => "attributes." + Key,
    };

    public bool IsNumeric => Kind == RunFieldKind.Metric;

    public override string ToString() => ColumnName;

    /// <summary>Parses "metrics.x" etc.; null with a reason when the text is not a field.</summary>
    public static RunField? TryParse(string text, out string problem)
    {
        problem = "";
        int dot = text.IndexOf('.', StringComparison.Ordinal);
        string prefix = dot < 0 ? text : text[..dot];
        string key = dot < 0 ? "" : text[(dot + 1)..];
        RunFieldKind? kind = prefix switch
        {
            "metrics" or "metric" => RunFieldKind.Metric,
            "params" or "param" => RunFieldKind.Param,
            "tags" or "tag" => RunFieldKind.Tag,
            "attributes" or "attribute" or "attr" => RunFieldKind.Attribute,
            _ => null,
        };
        if (kind is null)
        {
            problem = $"unknown field '{text}'; {Help}";
            return null;
        }
        if (key.Length == 0)
        {
            problem = $"'{text}' needs a key after '{prefix}.'";
            return null;
        }
        if (kind == RunFieldKind.Attribute && !Attributes.Contains(key))
        {
            problem = $"unknown attribute '{key}'; attributes are {string.Join(", ", Attributes)}";
            return null;
        }
        // params.stages[0].epochs (the recipe path, as --set spells it) means the param stages.0.epochs.
        return new RunField(kind.Value, kind == RunFieldKind.Param ? ParamKeys.FromRecipePath(key) : key);
    }

    /// <summary>Parses a field named on the command line (e.g. in --sort); bad text is an InvalidInputException.</summary>
    public static RunField Parse(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text.Trim(), out string problem) ?? throw new InvalidInputException($"{what}: {problem}");
    }
}
