using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

/// <summary>What to list: a selection of the store, then a filter, a sort and a limit.</summary>
public sealed record RunQuery
{
    public RunSelection Selection { get; init; } = new() { IncludeChildren = false };
    /// <summary>A filter in the language of <see cref="FilterParser"/>; null = every run.</summary>
    public string? Filter { get; init; }
    /// <summary>A sort order in the form of <see cref="RunSort"/>; null = newest first.</summary>
    public string? Sort { get; init; }
    public int? Limit { get; init; }
    /// <summary>Fields to show as columns besides the base ones and those the filter and sort use.</summary>
    public IReadOnlyList<RunField> Columns { get; init; } = [];
    /// <summary>Fields shown as columns only when at least one listed run has them (or the filter or sort uses them),
    /// e.g. test accuracy for classifiers and bits per byte for language models.</summary>
    public IReadOnlyList<RunField> OptionalColumns { get; init; } = [];
}

/// <summary>The runs that matched, in order, and the same runs as a DataFrame (see <see cref="RunFrame"/>).</summary>
public sealed record RunQueryResult(IReadOnlyList<RunRecord> Runs, DataFrame Table);

public static class RunQueryExecutor
{
    /// <summary>Runs the query; a bad filter throws <see cref="FilterSyntaxException"/>, a bad sort InvalidInputException.</summary>
    public static RunQueryResult Execute(RunStore store, RunQuery query)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(query);
        // Parse first: a bad query fails before the store is read.
        var filter = query.Filter is { } text && !string.IsNullOrWhiteSpace(text) ? FilterParser.Parse(text) : null;
        var sort = query.Sort is { } sortText && !string.IsNullOrWhiteSpace(sortText) ? RunSort.Parse(sortText) : [];
        if (query.Limit is < 0)
            throw new InvalidInputException($"--limit {query.Limit}: must be 0 or more");
        return Apply(store.FindRuns(query.Selection), filter, sort, query.Limit, query.Columns, query.OptionalColumns);
    }

    public static RunQueryResult Apply(IReadOnlyList<RunRecord> runs, FilterExpression? filter, IReadOnlyList<SortKey> sort,
        int? limit, IReadOnlyList<RunField> columns, IReadOnlyList<RunField>? optionalColumns = null)
    {
        var used = columns.Concat(filter?.Fields() ?? []).Concat(sort.Select(s => s.Field)).Distinct().ToList();
        var optional = (optionalColumns ?? []).Except(used).ToList();
        var frame = RunFrame.Build(runs, columns.Concat(optionalColumns ?? []).Concat(used).Distinct());
        var rows = Enumerable.Range(0, runs.Count).Select(i => (long)i);
        if (filter is not null)
        {
            var mask = FilterEvaluator.Evaluate(filter, frame);
            rows = rows.Where(i => mask[i] == true);
        }
        var kept = rows.ToArray();
        var filtered = FrameRows.Take(frame, kept);
        var order = RunSort.Order(filtered, sort);
        if (limit is { } n && order.Length > n)
            order = order[..n];
        var table = FrameRows.Take(filtered, order);
        foreach (var field in optional)
        {
            if (table.Columns[RunFrame.ColumnOf(field)].NullCount == table.Rows.Count)
                table.Columns.Remove(RunFrame.ColumnOf(field));
        }
        return new RunQueryResult(order.Select(i => runs[(int)kept[i]]).ToList(), table);
    }
}
