using Distill.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Data;

public class IdxReaderTests
{
    [Theory]
    [InlineData("train", 10_000, 1000)]
    [InlineData("t10k", 2_000, 200)]
    public void ReadsShippedSubsetWithBalancedClasses(string prefix, long count, long perClass)
    {
        using var images = IdxReader.Read(Path.Combine(TestData.FashionDir, $"{prefix}-images-idx3-ubyte.gz"));
        using var labels = IdxReader.Read(Path.Combine(TestData.FashionDir, $"{prefix}-labels-idx1-ubyte.gz"));

        Assert.Equal(ScalarType.Byte, images.dtype);
        Assert.Equal(new[] { count, 28L, 28L }, images.shape);
        Assert.Equal(new[] { count }, labels.shape);
        using var histogram = labels.to_type(ScalarType.Int64).bincount(null, 0);
        Assert.Equal(Enumerable.Repeat(perClass, 10), histogram.data<long>().ToArray());
        Assert.Equal(0, images.min().item<byte>());
        Assert.Equal(255, images.max().item<byte>());
    }

    [Fact]
    public void GzipAndRawGiveTheSameTensor()
    {
        string gz = Path.Combine(TestData.FashionDir, "t10k-images-idx3-ubyte.gz");
        // No .gz extension on either copy: compression is detected from the content.
        string dir = TestData.NewTempDir();
        string raw = Path.Combine(dir, "images-raw");
        string gzNoExtension = Path.Combine(dir, "images-compressed");
        File.WriteAllBytes(raw, TestData.Gunzip(gz));
        File.Copy(gz, gzNoExtension);

        using var fromGz = IdxReader.Read(gzNoExtension);
        using var fromRaw = IdxReader.Read(raw);
        Assert.Equal(fromGz.shape, fromRaw.shape);
        Assert.True(TestData.SameValues(fromGz, fromRaw));
    }

    [Fact]
    public void TruncatedDataIsRejectedNamingTheFile()
    {
        string path = WriteTemp(Header(0x0803, 3, 4, 4).Concat(new byte[3 * 4 * 4 - 1]).ToArray());
        var e = Assert.Throws<InvalidInputException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TruncatedGzipIsRejectedNamingTheFile()
    {
        byte[] gz = File.ReadAllBytes(Path.Combine(TestData.FashionDir, "t10k-images-idx3-ubyte.gz"));
        string path = WriteTemp(gz[..(gz.Length / 2)]);
        var e = Assert.Throws<InvalidInputException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void WrongMagicIsRejectedNamingTheFile()
    {
        string path = WriteTemp([.. "PK\u0003\u0004"u8, .. new byte[64]]);
        var e = Assert.Throws<InvalidInputException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("magic", e.Message);
    }

    [Fact]
    public void LabelsFileWhereImagesExpectedIsRejected()
    {
        string path = WriteTemp(Header(0x0801, 5).Concat(new byte[5]).ToArray());
        var e = Assert.Throws<InvalidInputException>(() => IdxReader.Read(path, expectedDimensions: 3));
        Assert.Contains(path, e.Message);
        Assert.Contains("0x00000803", e.Message);
    }

    [Fact]
    public void UnsupportedTypeIsRejected()
    {
        // 0x0D = float32 data.
        string path = WriteTemp(Header(0x0D01, 2).Concat(new byte[8]).ToArray());
        var e = Assert.Throws<InvalidInputException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("0x0D", e.Message);
    }

    [Fact]
    public void TrailingBytesAreRejectedNamingTheFile()
    {
        string path = WriteTemp(Header(0x0801, 4).Concat(new byte[] { 1, 2, 3, 4, 9 }).ToArray());
        var e = Assert.Throws<InvalidInputException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("trailing", e.Message);
    }

    [Fact]
    public void SmallHandWrittenFileReadsExactly()
    {
        string path = WriteTemp(Header(0x0803, 2, 2, 3).Concat(new byte[] { 0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255 }).ToArray());
        using var t = IdxReader.Read(path);
        Assert.Equal(new long[] { 2, 2, 3 }, t.shape);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255 }, t.data<byte>().ToArray());
    }

    private static byte[] Header(int magic, params int[] dims)
    {
        var bytes = new List<byte> { 0, 0, (byte)(magic >> 8), (byte)magic };
        foreach (int d in dims)
        {
            bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        }
        return bytes.ToArray();
    }

    private static string WriteTemp(byte[] bytes)
    {
        string path = Path.Combine(TestData.NewTempDir(), "file-idx-ubyte");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
