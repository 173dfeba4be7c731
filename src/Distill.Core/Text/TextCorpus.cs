using System.Text;

namespace Distill.Core.Text;

/// <summary>A plain-text corpus file read as UTF-8 (a leading byte-order mark is dropped). Rejects an empty
/// file and a binary one (a NUL byte, or bytes that are not valid UTF-8) with an
/// <see cref="InvalidInputException"/> naming the file.</summary>
public sealed class TextCorpus
{
    private TextCorpus(string path, string text, long byteCount)
    {
        Path = path;
        Text = text;
        ByteCount = byteCount;
    }

    public string Path { get; }

    public string Text { get; }

    /// <summary>UTF-8 bytes of <see cref="Text"/> (the file's size without a byte-order mark).</summary>
    public long ByteCount { get; }

    public static TextCorpus Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new InvalidInputException($"{path}: text corpus not found");
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read text corpus: {e.Message}", e);
        }
        return FromBytes(path, bytes);
    }

    /// <summary>Validates and decodes <paramref name="bytes"/>; <paramref name="path"/> names the source in errors.</summary>
    public static TextCorpus FromBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        if (bytes.Length - start == 0)
        {
            throw new InvalidInputException($"{path}: text corpus is empty");
        }
        int nul = Array.IndexOf(bytes, (byte)0, start);
        if (nul >= 0)
        {
            throw new InvalidInputException($"{path}: not a text file: NUL byte at byte offset {nul} (binary data?)");
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidInputException(
                $"{path}: not a UTF-8 text file: invalid UTF-8 at byte offset {start + e.Index} (binary data, or another encoding?)", e);
        }
        return new TextCorpus(path, text, bytes.Length - start);
    }
}
