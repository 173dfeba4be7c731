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

    /// <summary>The length field is 8 bytes at offset 12; 2^63 read as a signed number was reported as a negative size.</summary>
    [Theory]
    [InlineData(0x8000_0000_0000_0000UL, "its length field says 9223372036854775808 bytes of contents")]
    [InlineData(ulong.MaxValue, "its length field says 18446744073709551615 bytes of contents")]
    [InlineData(2UL, "its length field says 2 bytes of contents (at least 4)")]
    public void Damaged_length_field_is_reported_without_a_negative_size(ulong length, string expected)
    {
        var path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        BitConverter.GetBytes(length).CopyTo(bytes, 12);
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidInputException>(() => CheckpointFile.Read(path));
        Assert.StartsWith(path + ": checkpoint is", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain("-", error.Message[path.Length..]);
    }

    [Fact]
    public void Section_length_beyond_the_contents_names_the_section()
    {
        // A well-sealed file whose section "a" claims 2^63 bytes: payload = header length, header, name length, name, length, bytes.
        var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(2);
            writer.Write("{}"u8.ToArray());
            writer.Write(1);
            writer.Write((byte)'a');
            writer.Write(long.MinValue);
            writer.Write(new byte[] { 1, 2, 3 });
        }
        var body = payload.ToArray();
        var file = new MemoryStream();
        using (var writer = new BinaryWriter(file, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("DSTLCKPT"u8.ToArray());
            writer.Write(1u);
            writer.Write((long)body.Length);
            writer.Write(body);
            writer.Write(System.Security.Cryptography.SHA256.HashData(body));
        }
        var path = Path.Combine(_dir, "section.ckpt");
        File.WriteAllBytes(path, file.ToArray());
        var error = Assert.Throws<InvalidInputException>(() => CheckpointFile.Read(path));
        Assert.Equal($"{path}: checkpoint layout is damaged: section 'a' says 9223372036854775808 bytes, 3 are left", error.Message);
    }

    [Fact]
    public void Folder_given_as_a_checkpoint_is_named_as_a_folder()
    {
        var error = Assert.Throws<InvalidInputException>(() => CheckpointFile.Read(_dir));
        Assert.Equal($"{_dir}: is a folder, not a checkpoint file", error.Message);
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
