using Distill.Core.Export.Onnx;
using Distill.Core.Training;
using Distill.TestSupport;

namespace Distill.Core.Tests.Training;

/// <summary>The temp-file-and-rename writers on a disk that fills up for real: a message naming the file meant
/// (not its temporary name), no temporary file left, and the previous version of the file intact.</summary>
public sealed class DiskFullWriteTests
{
    private static readonly byte[] Big = new byte[512 * 1024];

    [Fact]
    public void A_checkpoint_that_does_not_fit_names_the_checkpoint_and_keeps_the_previous_one()
    {
        using var disk = new TmpfsFolder(256);
        string path = Path.Combine(disk.Path, "checkpoints", "last.ckpt");
        CheckpointFile.Write(path, "{}", new Dictionary<string, byte[]> { ["small"] = [1, 2, 3] });

        var error = Assert.Throws<DiskFullException>(() => CheckpointFile.Write(path, "{}", new Dictionary<string, byte[]> { ["big"] = Big }));

        Assert.Equal($"{path}: cannot write the checkpoint: no space left on the device", error.Message);
        Assert.Equal([1, 2, 3], CheckpointFile.Read(path).Sections["small"]);
        Assert.Equal([path], Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void An_atomic_write_that_does_not_fit_names_the_file_and_keeps_the_previous_one()
    {
        using var disk = new TmpfsFolder(256);
        string path = Path.Combine(disk.Path, "model.onnx");
        AtomicFile.Write(path, stream => stream.Write([7, 7]));

        var error = Assert.Throws<DiskFullException>(() => AtomicFile.Write(path, stream => stream.Write(Big)));

        Assert.Equal($"{path}: cannot write: no space left on the device", error.Message);
        Assert.Equal([7, 7], File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(disk.Path));
    }
}
