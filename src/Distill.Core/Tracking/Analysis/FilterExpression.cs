namespace Distill.Core.Tracking.Analysis;

public enum FilterOperator { Equal, NotEqual, Greater, GreaterOrEqual, Less, LessOrEqual, Like }

/// <summary>A parsed run filter: comparisons joined by and/or.</summary>
public abstract record FilterExpression;

public sealed record FilterAnd(FilterExpression Left, FilterExpression Right) : FilterExpression;

public sealed record FilterOr(FilterExpression Left, FilterExpression Right) : FilterExpression;

/// <summary>A comparison of a field with a literal; <see cref="Number"/> is set for numeric literals, else <see cref="Text"/>.</summary>
public sealed record FilterComparison(RunField Field, FilterOperator Operator, double? Number, string? Text, int Column) : FilterExpression;

public static class FilterExpressionExtensions
{
    /// <summary>Every field the expression refers to, once each, in order of appearance.</summary>
    public static IReadOnlyList<RunField> Fields(this FilterExpression expression)
    {
        var fields = new List<RunField>();
        Collect(expression, fields);
        return fields.Distinct().ToList();
    }

    private static void Collect(FilterExpression expression, List<RunField> fields)
    {
        switch (expression)
        {
            case FilterAnd and:
                Collect(and.Left, fields);
                Collect(and.Right, fields);
                break;
            case FilterOr or:
                Collect(or.Left, fields);
                Collect(or.Right, fields);
                break;
            case FilterComparison comparison:
                fields.Add(comparison.Field);
                break;
        }
    }
}

/// <summary>A filter with a syntax error: the 1-based column of the problem, and the filter with a caret under it.</summary>
public sealed class FilterSyntaxException(string filter, int column, string problem)
    : InvalidInputException($"column {column}: {problem}\n  {filter}\n  {new string(' ', Math.Max(0, column - 1))}^")
{
    public string Filter { get; } = filter;
    public int Column { get; } = column;
    public string Problem { get; } = problem;
}
