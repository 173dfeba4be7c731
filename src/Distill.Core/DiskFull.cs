using Microsoft.Data.Sqlite;

namespace Distill.Core;

/// <summary>Tells a full disk from other write failures: ENOSPC or EDQUOT from a file write (.NET puts the
/// errno in <see cref="Exception.HResult"/> on Unix), ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows,
/// SQLITE_FULL from the run store's database.</summary>
public static class DiskFull
{
    private const int SqliteFull = 13;

    public static bool Is(Exception e) => e switch
    {
        DiskFullException => true,
        SqliteException sqlite => sqlite.SqliteErrorCode == SqliteFull,
        IOException io => IsFullError(io.HResult),
        _ => false,
    };

    /// <summary>True when the disk holding <paramref name="path"/> has (almost) no space left, e.g. to tell why SQLite
    /// could not create its shared-memory file, which it reports as a plain I/O error.</summary>
    public static bool NoRoomFor(string path)
    {
        try
        {
            return new DriveInfo(Path.GetDirectoryName(Path.GetFullPath(path))!).AvailableFreeSpace < 64 * 1024;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The database of a run store could not take a write because its disk is full.</summary>
    public static DiskFullException InDatabase(string databasePath, Exception inner) =>
        new($"{databasePath}: the run store's database cannot grow: no space left on the device ({inner.Message})", inner);

    private static bool IsFullError(int hresult)
    {
        if (OperatingSystem.IsWindows())
            return (hresult & 0xFFFF) is 39 or 112;
        int enospc = 28;
        int edquot = OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 69 : 122;
        return hresult == enospc || hresult == edquot;
    }
}
