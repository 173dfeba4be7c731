using Microsoft.Data.Sqlite;

namespace Distill.Core.Tests.Tracking;

/// <summary>A fresh temporary folder for a store, deleted afterwards.</summary>
internal sealed class TempStoreFolder : IDisposable
{
    public TempStoreFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "distill-tracking-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string DatabasePath => System.IO.Path.Combine(Path, "distill.db");

    /// <summary>Runs SQL directly on the store's database, as another program would.</summary>
    public void ExecuteSql(string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        command.ExecuteNonQuery();
    }

    /// <summary>The first column of every row a query on the store's database returns, as integers.</summary>
    public List<long> QueryInt64(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<long>();
        while (reader.Read())
            values.Add(reader.GetInt64(0));
        return values;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder must not fail the test.
        }
    }
}
