using System.IO.Compression;
using Distill.Core.Data;
using TorchSharp;

namespace Distill.Core.Tests.Data;

/// <summary>Locates the repository's shipped data and makes scratch folders for test files.</summary>
internal static class TestData
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public static string DataDir => Path.Combine(RepoRoot, "data");
    public static string FashionDir => Path.Combine(DataDir, "fashion-mnist-subset");
    public static string DigitsCsv => Path.Combine(DataDir, "digits", "digits.csv.gz");

    public static DataOptions FashionOptions => new()
    {
        Format = DataFormat.Idx,
        TrainIdx = new IdxFiles("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        TestIdx = new IdxFiles("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    };

    public static DataOptions DigitsOptions => new()
    {
        Format = DataFormat.Csv,
        TrainCsv = "digits/digits.csv.gz",
        CsvHasHeader = false,
        CsvScale = 16,
    };

    public static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "distill-data-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Same shape, dtype and every element equal.</summary>
    public static bool SameValues(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        return a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }

    public static byte[] Gunzip(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gz.CopyTo(memory);
        return memory.ToArray();
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Distill.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Distill.sln above {AppContext.BaseDirectory}");
    }
}
