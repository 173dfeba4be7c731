using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

/// <summary>
/// Evaluates a filter on a run frame (<see cref="RunFrame"/>) to a boolean mask, one entry per row.
/// A run that lacks the field matches no comparison on it. Metrics compare as numbers; params and
/// tags compare as numbers when the literal is a number and the value parses as one, else as
/// strings (ordinal); attributes.start_time compares as a time (a quoted date, or Unix milliseconds).
/// </summary>
public static class FilterEvaluator
{
    public static PrimitiveDataFrameColumn<bool> Evaluate(FilterExpression filter, DataFrame frame)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(frame);
        var mask = Rows(filter, frame);
        return new PrimitiveDataFrameColumn<bool>("match", mask);
    }

    private static bool[] Rows(FilterExpression filter, DataFrame frame)
    {
        switch (filter)
        {
            case FilterAnd and:
                return Combine(Rows(and.Left, frame), Rows(and.Right, frame), (a, b) => a && b);
            case FilterOr or:
                return Combine(Rows(or.Left, frame), Rows(or.Right, frame), (a, b) => a || b);
            case FilterComparison comparison:
                var column = frame.Columns[RunFrame.ColumnOf(comparison.Field)];
                var result = new bool[frame.Rows.Count];
                for (int i = 0; i < result.Length; i++)
                    result[i] = Matches(comparison, column[i]);
                return result;
            default:
                throw new ArgumentOutOfRangeException(nameof(filter), filter, "unknown filter node");
        }
    }

    private static bool[] Combine(bool[] left, bool[] right, Func<bool, bool, bool> op)
    {
        var result = new bool[left.Length];
        for (int i = 0; i < left.Length; i++)
            result[i] = op(left[i], right[i]);
        return result;
    }

    private static bool Matches(FilterComparison comparison, object? value)
    {
        switch (value)
        {
            case null:
                return false;
            case double number:
                return Compare(number.CompareTo(comparison.Number!.Value), comparison.Operator, isNaN: double.IsNaN(number));
            case string text when comparison.Field is { Kind: RunFieldKind.Attribute, Key: "start_time" }:
                {
                    var time = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);
                    double literal = comparison.Number
                        ?? (FilterParser.TryParseTime(comparison.Text!, out var t) ? t.ToUnixTimeMilliseconds() : double.NaN);
                    return Compare(((double)time.ToUnixTimeMilliseconds()).CompareTo(literal), comparison.Operator, isNaN: false);
                }
            case string text when comparison.Number is { } literal:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed)
                    ? Compare(parsed.CompareTo(literal), comparison.Operator, double.IsNaN(parsed))
                    : comparison.Operator == FilterOperator.NotEqual;
            case string text when comparison.Operator == FilterOperator.Like:
                return LikePattern(comparison.Text!).IsMatch(text);
            case string text:
                return Compare(string.CompareOrdinal(text, comparison.Text), comparison.Operator, isNaN: false);
            default:
                throw new ArgumentException($"unexpected value of type {value.GetType()} in a run frame");
        }
    }

    /// <summary>NaN equals nothing and orders against nothing, as in IEEE comparisons.</summary>
    private static bool Compare(int order, FilterOperator op, bool isNaN)
    {
        if (isNaN)
            return op == FilterOperator.NotEqual;
        return op switch
        {
            FilterOperator.Equal => order == 0,
            FilterOperator.NotEqual => order != 0,
            FilterOperator.Greater => order > 0,
            FilterOperator.GreaterOrEqual => order >= 0,
            FilterOperator.Less => order < 0,
            FilterOperator.LessOrEqual => order <= 0,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "not an ordering operator"),
        };
    }

    /// <summary>SQL LIKE: % is any run of characters, _ is one character; case-sensitive, as MLflow's LIKE.</summary>
    public static Regex LikePattern(string pattern)
    {
        var regex = new System.Text.StringBuilder("^");
        foreach (char c in pattern)
        {
            regex.Append(c switch
            {
                '%' => ".*",
                '_' => ".",
                _ => Regex.Escape(c.ToString()),
            });
        }
        regex.Append('$');
        return new Regex(regex.ToString(), RegexOptions.Singleline | RegexOptions.CultureInvariant);
    }
}
