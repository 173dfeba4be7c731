using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

internal static class FrameRows
{
    /// <summary>
    /// The given rows of the frame, in the given order. DataFrame.Filter throws on an empty index
    /// column in Microsoft.Data.Analysis 0.23, so an empty selection builds empty columns itself.
    /// </summary>
    public static DataFrame Take(DataFrame frame, long[] rows)
    {
        if (rows.Length > 0)
            return frame.Filter(new PrimitiveDataFrameColumn<long>("row", rows));
        return new DataFrame(frame.Columns.Select(Empty));
    }

    private static DataFrameColumn Empty(DataFrameColumn column) => column switch
    {
        StringDataFrameColumn => new StringDataFrameColumn(column.Name),
        DoubleDataFrameColumn => new DoubleDataFrameColumn(column.Name),
        BooleanDataFrameColumn => new BooleanDataFrameColumn(column.Name),
        _ => throw new ArgumentException($"unexpected column type {column.GetType()}"),
    };
}
