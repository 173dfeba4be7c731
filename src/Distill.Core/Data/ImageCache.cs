using System.Text;

namespace Distill.Core.Data;

/// <summary>The uint8 cache of a decoded image folder: a header (format tag, the folder's content hash, size, channels,
/// class names, labels, skipped images) and the pixels. Written atomically; a file that does not match the folder
/// (another content hash) or cannot be read is ignored and rewritten, never trusted.</summary>
internal static class ImageCache
{
    private const string Magic = "distill-image-cache v1";

    public sealed record Entry(byte[] Pixels, long[] Labels, IReadOnlyList<string> Skipped);

    public static Entry? TryRead(string path, string contentHash, ImageFolderOptions o, string[] classes)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            if (reader.ReadString() != Magic || reader.ReadString() != contentHash
                || reader.ReadInt32() != o.Height || reader.ReadInt32() != o.Width || reader.ReadInt32() != o.Channels)
            {
                return null;
            }
            int classCount = reader.ReadInt32();
            if (classCount != classes.Length || Enumerable.Range(0, classCount).Any(i => reader.ReadString() != classes[i]))
            {
                return null;
            }
            int count = reader.ReadInt32();
            var labels = new long[count];
            for (int i = 0; i < count; i++)
            {
                labels[i] = reader.ReadInt32();
            }
            var skipped = new string[reader.ReadInt32()];
            for (int i = 0; i < skipped.Length; i++)
            {
                skipped[i] = reader.ReadString();
            }
            long size = (long)count * o.Channels * o.Height * o.Width;
            var pixels = reader.ReadBytes(checked((int)size));
            return pixels.Length == size && reader.BaseStream.Position == reader.BaseStream.Length ? new Entry(pixels, labels, skipped) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OverflowException or OutOfMemoryException or ArgumentException)
        {
            // EndOfStreamException (an IOException) or garbage lengths: a damaged cache is read afresh from the images.
            return null;
        }
    }

    public static void Write(string path, string contentHash, ImageFolderOptions o, string[] classes, byte[] pixels, long[] labels, IReadOnlyList<string> skipped) =>
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(contentHash);
            writer.Write(o.Height);
            writer.Write(o.Width);
            writer.Write(o.Channels);
            writer.Write(classes.Length);
            foreach (string name in classes)
                writer.Write(name);
            writer.Write(labels.Length);
            foreach (long label in labels)
                writer.Write((int)label);
            writer.Write(skipped.Count);
            foreach (string s in skipped)
                writer.Write(s);
            writer.Write(pixels);
        }, "the image cache");
}
