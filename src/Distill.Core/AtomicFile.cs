namespace Distill.Core;

/// <summary>Writes a file through a temporary file in the same folder and a rename, so that readers see
/// either the old file or the complete new one, never a half-written one. The temporary file is flushed to disk
/// before the rename; a failed write deletes it; a full disk is reported naming the file meant, not the temporary
/// one. Every temp-and-rename write of Distill goes through here.</summary>
internal static class AtomicFile
{
    /// <param name="what">What the file is, for the full-disk message ("the checkpoint"); null for "cannot write:".</param>
    /// <param name="temporaryName">The temporary file's name in the target's folder; by default
    /// ".&lt;name&gt;.&lt;guid&gt;.tmp". (Checkpoints use their own, which a resumed run recognises and deletes.)</param>
    public static void Write(string path, Action<Stream> write, string? what = null, string? temporaryName = null)
    {
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, temporaryName ?? $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e)
        {
            File.Delete(temporary);
            if (e is IOException && DiskFull.Is(e))
                throw new DiskFullException($"{full}: cannot write{(what is null ? "" : " " + what)}: no space left on the device", e);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte-order mark), as File.WriteAllText does, but atomically.</summary>
    public static void WriteText(string path, string text, string? what = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)), what);
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> atomically.</summary>
    public static void Copy(string source, string destination)
    {
        using var input = File.OpenRead(source);
        Write(destination, input.CopyTo);
    }
}
