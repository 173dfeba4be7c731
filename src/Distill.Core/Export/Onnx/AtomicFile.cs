namespace Distill.Core.Export.Onnx;

/// <summary>Writes a file through a temporary file in the same folder and a rename, so that readers see
/// either the old file or the complete new one, never a half-written one. A failed write deletes the temporary
/// file; a full disk is reported naming the file meant, not the temporary one.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
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
                throw new DiskFullException($"{full}: cannot write: no space left on the device", e);
            throw;
        }
    }
}
