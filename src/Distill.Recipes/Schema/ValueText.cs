using System.Globalization;

namespace Distill.Recipes.Schema;

/// <summary>How values are written in the resolved recipe, in run params and in the schema description.</summary>
internal static class ValueText
{
    public static string Format(object raw) => raw switch
    {
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => ScalarSchema.Format(d),
        bool b => b ? "true" : "false",
        object[] items => "[" + string.Join(", ", items.Select(Format)) + "]",
        _ => raw.ToString() ?? "",
    };

    public static string Format(Value value) => value switch
    {
        ScalarValue s => Format(s.Raw),
        ListValue l => "[" + string.Join(", ", l.Items.Select(Format)) + "]",
        _ => throw new ArgumentException("a mapping has no single-line form", nameof(value)),
    };

    /// <summary>Builds a value for a schema default, located at the mapping that lacked the key.</summary>
    public static Value FromDefault(object raw, Location at) => raw switch
    {
        object[] items => new ListValue(at, items.Select(i => FromDefault(i, at)).ToList()),
        _ => new ScalarValue(at, raw),
    };
}
