using System.Globalization;
using SkiaSharp;

namespace Distill.Core.Data;

/// <summary>Writes IDX image/label pairs as an image folder: one sub-folder per label (the label's number, zero-padded so
/// that the folders sort as the labels do), one grey PNG per image named by its index in the file. PNG is lossless, so
/// the folder reads back to the same bytes.</summary>
public static class ImageFolderWriter
{
    /// <summary>Writes each pair into its sub-folder of <paramref name="output"/> (e.g. "train", "test"; "" = the
    /// folder itself). Everything is written into a temporary folder beside <paramref name="output"/> that is renamed
    /// to it at the end, so a failure leaves nothing half-written. Returns the number of images written per pair.</summary>
    public static IReadOnlyList<int> Write(IReadOnlyList<(string SubFolder, IdxFiles Files)> pairs, string output, CancellationToken cancel = default)
    {
        string target = Path.GetFullPath(output);
        if (File.Exists(target) || (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any()))
        {
            throw new InvalidInputException($"{target}: already exists and is not an empty folder; choose a new output folder");
        }
        // Read and check every input before writing anything.
        var read = pairs.Select(p => (p.SubFolder, Data: Read(p.Files, cancel))).ToList();
        int classes = (int)read.Max(r => r.Data.Labels.Max()) + 1;
        int digits = (classes - 1).ToString(CultureInfo.InvariantCulture).Length;

        string parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        string temporary = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var counts = new List<int>();
            foreach (var (subFolder, data) in read)
            {
                string folder = Path.Combine(temporary, subFolder);
                for (int i = 0; i < data.Labels.Length; i++)
                {
                    if (i % 1024 == 0)
                        cancel.ThrowIfCancellationRequested();
                    string classFolder = Path.Combine(folder, data.Labels[i].ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0'));
                    Directory.CreateDirectory(classFolder);
                    string name = i.ToString(CultureInfo.InvariantCulture).PadLeft(data.Labels.Length.ToString(CultureInfo.InvariantCulture).Length, '0') + ".png";
                    File.WriteAllBytes(Path.Combine(classFolder, name), GreyPng(data.Pixels.AsSpan(i * data.Area, data.Area), data.Height, data.Width));
                }
                counts.Add(data.Labels.Length);
            }
            if (Directory.Exists(target))
                Directory.Delete(target);
            Directory.Move(temporary, target);
            return counts;
        }
        catch
        {
            if (Directory.Exists(temporary))
                Directory.Delete(temporary, recursive: true);
            throw;
        }
    }

    /// <summary>A grey PNG of <paramref name="pixels"/> (row-major, one byte per pixel).</summary>
    public static byte[] GreyPng(ReadOnlySpan<byte> pixels, int height, int width)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        pixels.CopyTo(bitmap.GetPixelSpan());
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private sealed record IdxImages(byte[] Pixels, byte[] Labels, int Height, int Width)
    {
        public int Area => Height * Width;
    }

    private static IdxImages Read(IdxFiles files, CancellationToken cancel)
    {
        var (dims, pixels) = IdxReader.ReadBytes(files.Images, expectedDimensions: 3, cancel);
        var (labelDims, labels) = IdxReader.ReadBytes(files.Labels, expectedDimensions: 1, cancel);
        if (dims[0] != labelDims[0])
        {
            throw new InvalidInputException($"{files.Images}: {dims[0]} images but {files.Labels} has {labelDims[0]} labels");
        }
        if (dims[0] == 0)
        {
            throw new InvalidInputException($"{files.Images}: no images");
        }
        return new IdxImages(pixels, labels, (int)dims[1], (int)dims[2]);
    }
}
