using Distill.Core.Training;

namespace Distill.Core.Tests.Training;

public sealed class CheckpointFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distill-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteSample()
    {
        var path = Path.Combine(_dir, "sample.ckpt");
        CheckpointFile.Write(path, "{\"kind\":\"test\"}", new Dictionary<string, byte[]>
        {
            ["a"] = [1, 2, 3],
            ["b/c"] = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray(),
        });
        return path;
    }

    [Fact]
    public void Round_trips_header_and_sections_and_leaves_no_temporary_file()
    {
        var path = WriteSample();
        var (header, sections) = CheckpointFile.Read(path);
        Assert.Equal("{\"kind\":\"test\"}", header);
        Assert.Equal([1, 2, 3], sections["a"]);
        Assert.Equal(1000, sections["b/c"].Length);
        Assert.Equal(231, sections["b/c"][999]);
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Truncated_file_is_reported_as_truncated_naming_the_file()
    {
        var path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var error = Assert.Throws<InvalidInputException>(() => CheckpointFile.Read(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Flipped_byte_is_reported_as_corrupt()
    {
        var path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        bytes[40] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidInputException>(() => CheckpointFile.Read(path));
        Assert.Contains("corrupt", error.Message);
    }

    [Fact]
    public void Foreign_file_is_not_a_checkpoint()
    {
        var path = Path.Combine(_dir, "foreign.ckpt");
        File.WriteAllText(path, "name: not a checkpoint\n");
        var error = Assert.Throws<InvalidInputException>(() => CheckpointFile.Read(path));
        Assert.Contains("not a Distill checkpoint", error.Message);
    }
}
