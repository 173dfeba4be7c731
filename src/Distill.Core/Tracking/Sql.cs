using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking;

/// <summary>Small helpers over Microsoft.Data.Sqlite commands (commands join the connection's open transaction).</summary>
internal static class Sql
{
    public static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    public static int Execute(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        return command.ExecuteNonQuery();
    }

    /// <summary>SQLite turns NaN into NULL; NULL is read back as NaN.</summary>
    public static object MetricValue(double value) => double.IsNaN(value) ? DBNull.Value : value;

    public static double ReadMetricValue(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? double.NaN : reader.GetDouble(ordinal);

    public static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
