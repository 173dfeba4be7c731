using System.IO.Compression;
using System.Security.Cryptography;

namespace Distill.Core.Data;

/// <summary>Opening data files: gzip is recognised by its 1f 8b header, not by the file name.</summary>
internal static class DataFile
{
    public static Stream OpenMaybeGzip(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidInputException($"{path}: data file not found");
        }
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        int b0 = file.ReadByte();
        int b1 = file.ReadByte();
        file.Position = 0;
        if (b0 == 0x1f && b1 == 0x8b)
        {
            return new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16);
        }
        return file;
    }

    public static InvalidInputException Unreadable(string path, Exception e) =>
        new($"{path}: cannot read data file: {e.Message}", e);

    public static string Sha256Hex(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
