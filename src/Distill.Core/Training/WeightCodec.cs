using System.Numerics;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>
/// A module's state (parameters and buffers) as a checkpoint section, each tensor in the smallest of three encodings:
///
///     dense    the raw little-endian elements                                   n·e bytes
///     bitmap   one bit per element (set = non-zero, LSB first), then the        ⌈n/8⌉ + k·e
///              non-zero elements in order
///     indices  the count and int32 positions of the non-zero elements, then     4 + k·(4 + e)
///              those elements
///
/// (n elements of e bytes, k of them non-zero; a tie keeps the earlier encoding.) An element counts as zero when
/// all its bytes are zero (+0.0, not −0.0), so every encoding gives back the exact bits. A layer pruned to 80 %
/// costs 1/8 + 0.2·4 = 0.925 bytes per float weight instead of 4; a dense one costs what it did.
///
///     0x00 "DSTLW" version:u8 | count:i32 | (name:string dtype:u8 rank:i32 dims:i64* encoding:u8 payload)*
///
/// Checkpoints written before this format hold TorchSharp's module.save stream instead, whose first byte (the
/// LEB128 count of entries) is zero only for a module without state, a stream of that one byte. The leading
/// 0x00 and the magic tell the two apart; <see cref="Load"/> reads both.
/// </summary>
public static class WeightCodec
{
    private static readonly byte[] Magic = [0x00, (byte)'D', (byte)'S', (byte)'T', (byte)'L', (byte)'W'];
    private const byte Version = 1;

    public enum Encoding : byte { Dense = 0, Bitmap = 1, Indices = 2 }

    public static byte[] Encode(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(Version);
            var state = module.state_dict();
            writer.Write(state.Count);
            foreach (var (name, tensor) in state)
            {
                writer.Write(name);
                writer.Write((byte)tensor.dtype);
                writer.Write(tensor.shape.Length);
                foreach (var dim in tensor.shape)
                    writer.Write(dim);
                WriteElements(writer, RawBytes(tensor), (int)tensor.element_size());
            }
        }
        return stream.ToArray();
    }

    /// <summary>Loads <paramref name="bytes"/> (this format or TorchSharp's) into <paramref name="module"/>: the names,
    /// element types and shapes must match its state exactly.</summary>
    /// <exception cref="InvalidInputException">The bytes are damaged or do not fit the module (names <paramref name="path"/>).</exception>
    public static void Load(string path, nn.Module module, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(bytes);
        try
        {
            if (bytes.AsSpan().StartsWith(Magic))
                LoadCompact(module, bytes);
            else
            {
                using var reader = new BinaryReader(new MemoryStream(bytes));
                module.load(reader, strict: true);
            }
        }
        catch (Exception e) when (e is not InvalidInputException)
        {
            throw new InvalidInputException($"{path}: weights do not fit the model: {e.Message}", e);
        }
    }

    /// <summary>The encoding <see cref="Encode"/> picks for <paramref name="count"/> elements of
    /// <paramref name="elementSize"/> bytes, <paramref name="nonZero"/> of them non-zero.</summary>
    public static Encoding Choose(long count, long nonZero, int elementSize)
    {
        long dense = count * elementSize;
        long bitmap = (count + 7) / 8 + nonZero * elementSize;
        long indices = 4 + nonZero * (4 + elementSize);
        if (bitmap < dense && bitmap <= indices)
            return Encoding.Bitmap;
        if (indices < dense && count <= int.MaxValue)
            return Encoding.Indices;
        return Encoding.Dense;
    }

    private static void WriteElements(BinaryWriter writer, byte[] raw, int size)
    {
        long count = raw.Length / size;
        var nonZero = new List<int>();
        for (int i = 0; i < count; i++)
        {
            if (raw.AsSpan(i * size, size).ContainsAnyExcept((byte)0))
                nonZero.Add(i);
        }
        var encoding = Choose(count, nonZero.Count, size);
        writer.Write((byte)encoding);
        switch (encoding)
        {
            case Encoding.Dense:
                writer.Write(raw);
                return;
            case Encoding.Bitmap:
                var bitmap = new byte[(count + 7) / 8];
                foreach (int i in nonZero)
                    bitmap[i >> 3] |= (byte)(1 << (i & 7));
                writer.Write(bitmap);
                break;
            case Encoding.Indices:
                writer.Write(nonZero.Count);
                foreach (int i in nonZero)
                    writer.Write(i);
                break;
        }
        foreach (int i in nonZero)
            writer.Write(raw, i * size, size);
    }

    private static byte[] ReadElements(BinaryReader reader, long count, int size)
    {
        var raw = new byte[checked(count * size)];
        var encoding = (Encoding)reader.ReadByte();
        switch (encoding)
        {
            case Encoding.Dense:
                Fill(reader, raw);
                return raw;
            case Encoding.Bitmap:
                var bitmap = reader.ReadBytes(checked((int)((count + 7) / 8)));
                if (bitmap.Length != (count + 7) / 8)
                    throw new EndOfStreamException();
                if (count % 8 != 0 && bitmap[^1] >> (int)(count % 8) != 0)
                    throw new FormatException("bitmap marks elements past the end of the tensor");
                for (int b = 0; b < bitmap.Length; b++)
                {
                    for (int bits = bitmap[b]; bits != 0; bits &= bits - 1)
                        Fill(reader, raw.AsSpan((b * 8 + BitOperations.TrailingZeroCount(bits)) * size, size));
                }
                return raw;
            case Encoding.Indices:
                int nonZero = reader.ReadInt32();
                if (nonZero < 0 || nonZero > count)
                    throw new FormatException($"{nonZero} non-zero elements in a tensor of {count}");
                var positions = new int[nonZero];
                for (int i = 0; i < nonZero; i++)
                {
                    positions[i] = reader.ReadInt32();
                    if (positions[i] < 0 || positions[i] >= count || (i > 0 && positions[i] <= positions[i - 1]))
                        throw new FormatException($"element position {positions[i]} is out of order or out of range");
                }
                foreach (int position in positions)
                    Fill(reader, raw.AsSpan(position * size, size));
                return raw;
            default:
                throw new FormatException($"unknown tensor encoding {(byte)encoding}");
        }
    }

    private static void LoadCompact(nn.Module module, byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes), System.Text.Encoding.UTF8);
        reader.ReadBytes(Magic.Length);
        byte version = reader.ReadByte();
        if (version != Version)
            throw new FormatException($"weight format version {version} is not supported (expected {Version})");
        var state = module.state_dict();
        int count = reader.ReadInt32();
        if (count != state.Count)
            throw new FormatException($"{count} tensors saved, but the model has {state.Count}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        for (int t = 0; t < count; t++)
        {
            string name = reader.ReadString();
            if (!state.TryGetValue(name, out var target) || !seen.Add(name))
                throw new FormatException($"the model has no tensor '{name}' (or it is saved twice)");
            var dtype = (ScalarType)reader.ReadByte();
            var shape = new long[reader.ReadInt32()];
            for (int d = 0; d < shape.Length; d++)
                shape[d] = reader.ReadInt64();
            if (dtype != target.dtype || !shape.SequenceEqual(target.shape))
                throw new FormatException(
                    $"{name} is saved as {dtype} [{string.Join(",", shape)}], but the model's is {target.dtype} [{string.Join(",", target.shape)}]");
            var raw = ReadElements(reader, target.numel(), (int)target.element_size());
            using var loaded = empty(shape, dtype);
            loaded.bytes = raw;
            target.copy_(loaded);
        }
        if (reader.BaseStream.Position != reader.BaseStream.Length)
            throw new FormatException("trailing bytes after the last tensor");
    }

    private static byte[] RawBytes(Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        return cpu.bytes.ToArray();
    }

    private static void Fill(BinaryReader reader, Span<byte> destination)
    {
        if (reader.Read(destination) != destination.Length)
            throw new EndOfStreamException("the weights end early");
    }
}
