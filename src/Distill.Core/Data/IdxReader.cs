using System.IO.Compression;
using static TorchSharp.torch;

namespace Distill.Core.Data;

/// <summary>Reads IDX files (the MNIST family format), raw or gzip-compressed. Only unsigned
/// byte data (type 0x08) is supported, which is what MNIST-like image and label files use.</summary>
public static class IdxReader
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;
    private const byte UnsignedByteType = 0x08;

    /// <summary>Returns a uint8 tensor with the dimensions given in the file's header.</summary>
    public static Tensor Read(string path) => Read(path, expectedDimensions: null);

    /// <summary>As <see cref="Read(string)"/>, and checks the magic number says
    /// <paramref name="expectedDimensions"/> dimensions (3 for images, 1 for labels).</summary>
    /// <param name="cancel">Checked between the chunks read.</param>
    public static Tensor Read(string path, int? expectedDimensions, CancellationToken cancel = default)
    {
        var (dims, data) = ReadBytes(path, expectedDimensions, cancel);
        return tensor(data, dims, ScalarType.Byte);
    }

    internal static (long[] Dims, byte[] Data) ReadBytes(string path, int? expectedDimensions, CancellationToken cancel = default)
    {
        try
        {
            using var stream = DataFile.OpenMaybeGzip(path);
            return Parse(stream, path, expectedDimensions, cancel);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw DataFile.Unreadable(path, e);
        }
    }

    private static (long[] Dims, byte[] Data) Parse(Stream stream, string path, int? expectedDimensions, CancellationToken cancel)
    {
        var magic = new byte[4];
        if (stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4)
        {
            throw new InvalidInputException($"{path}: not an IDX file: shorter than the 4-byte magic number");
        }
        int magicValue = (magic[0] << 24) | (magic[1] << 16) | (magic[2] << 8) | magic[3];
        if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0)
        {
            throw new InvalidInputException($"{path}: not an IDX file: wrong magic number 0x{magicValue:X8}");
        }
        if (magic[2] != UnsignedByteType)
        {
            throw new InvalidInputException(
                $"{path}: unsupported IDX data type 0x{magic[2]:X2} (magic 0x{magicValue:X8}); only unsigned byte (0x08) is supported");
        }
        int rank = magic[3];
        if (expectedDimensions is int expected && rank != expected)
        {
            throw new InvalidInputException(
                $"{path}: wrong magic number 0x{magicValue:X8}: expected 0x{0x800 | expected:X8} ({expected}-dimensional data)");
        }

        var header = new byte[4 * rank];
        if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
        {
            throw new InvalidInputException($"{path}: truncated IDX header: expected {rank} dimension sizes");
        }
        var dims = new long[rank];
        long size = 1;
        for (int d = 0; d < rank; d++)
        {
            dims[d] = ((long)header[4 * d] << 24) | ((long)header[4 * d + 1] << 16) | ((long)header[4 * d + 2] << 8) | header[4 * d + 3];
            size = dims[d] == 0 || size <= Array.MaxLength / dims[d] ? size * dims[d] : long.MaxValue;
        }
        if (size > Array.MaxLength)
        {
            throw new InvalidInputException($"{path}: IDX dimensions [{string.Join(", ", dims)}] are too large to load");
        }

        byte[] data = ReadExactlyOrLess(stream, (int)size, out int read, cancel);
        if (read < size)
        {
            throw new InvalidInputException(
                $"{path}: truncated IDX data: header [{string.Join(", ", dims)}] needs {size} bytes, file has {read}");
        }
        if (stream.ReadByte() >= 0)
        {
            throw new InvalidInputException(
                $"{path}: trailing bytes after the {size} data bytes that the header [{string.Join(", ", dims)}] describes");
        }
        return (dims, data);
    }

    /// <summary>Grows the buffer as data arrives, so a header that lies about its size cannot make
    /// us allocate far more than the file really holds.</summary>
    private static byte[] ReadExactlyOrLess(Stream stream, int size, out int read, CancellationToken cancel)
    {
        var buffer = new byte[Math.Min(size, 1 << 20)];
        read = 0;
        while (read < size)
        {
            cancel.ThrowIfCancellationRequested();
            if (read == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min(size, 2L * buffer.Length));
            }
            // At most 1 MiB per read, so that cancellation is seen between chunks of a large gzip file.
            int n = stream.Read(buffer, read, Math.Min(buffer.Length - read, 1 << 20));
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return buffer;
    }
}
