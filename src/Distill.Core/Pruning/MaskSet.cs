using System.Text;
using Distill.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>
/// The pruning masks of one model: a 0/1 float tensor per masked parameter, named as the parameter
/// (block1.conv.weight, block1.bn.bias, …), plus which layer weights count as pruned ("targets", the
/// denominator of the sparsity metric). Masks are kept beside the model rather than registered as module
/// buffers, so that saved weights stay loadable by a model built from the spec alone; they travel in their
/// own checkpoint section.
/// </summary>
public sealed class MaskSet : IDisposable
{
    public const string Section = "pruning/masks";

    private readonly Dictionary<string, Tensor> _masks = [];
    private readonly SortedSet<string> _targets = new(StringComparer.Ordinal);

    public bool IsEmpty => _masks.Count == 0;
    public IReadOnlyCollection<string> Names => _masks.Keys;
    public IReadOnlyCollection<string> Targets => _targets;

    public Tensor? Get(string name) => _masks.GetValueOrDefault(name);

    /// <summary>Sets (replaces) a mask with a float copy of <paramref name="mask"/>.</summary>
    public void Set(string name, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var owned = mask.detach().to_type(ScalarType.Float32, copy: true).DetachFromDisposeScope();
        if (_masks.Remove(name, out var old))
            old.Dispose();
        _masks[name] = owned;
    }

    public void AddTarget(string layerName) => _targets.Add(layerName);

    /// <summary>Pairs every mask with the model's parameter of the same name, moving a mask to its parameter's
    /// device when it is elsewhere (masks read from a checkpoint start in CPU memory).</summary>
    public IReadOnlyList<(Parameter Parameter, Tensor Mask)> Bind(nn.Module model)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var bound = new List<(Parameter, Tensor)>();
        foreach (var name in _masks.Keys.ToList())
        {
            var mask = _masks[name];
            if (!parameters.TryGetValue(name, out var parameter) || !parameter.shape.SequenceEqual(mask.shape))
                throw new InvalidOperationException($"mask {name} [{string.Join(",", mask.shape)}] fits no parameter of the model");
            if (mask.device_type != parameter.device_type)
            {
                var moved = mask.to(parameter.device).DetachFromDisposeScope();
                mask.Dispose();
                _masks[name] = mask = moved;
            }
            bound.Add((parameter, mask));
        }
        return bound;
    }

    /// <summary>Zeroes the masked weights. Adding +0 turns the −0.0 that a negative weight times 0 gives into +0.0
    /// (and changes nothing else), so that pruned weights are all-zero bits, which checkpoints store compactly.</summary>
    public static void ApplyToWeights(IReadOnlyList<(Parameter Parameter, Tensor Mask)> bound)
    {
        using var noGrad = no_grad();
        using var zero = 0.0f.ToScalar();
        foreach (var (parameter, mask) in bound)
            parameter.mul_(mask).add_(zero, ScalarMath.One);
    }

    /// <summary>Zeroes the gradients of masked weights, so that the optimiser's moments see no signal for them.</summary>
    public static void ApplyToGradients(IReadOnlyList<(Parameter Parameter, Tensor Mask)> bound)
    {
        using var noGrad = no_grad();
        foreach (var (parameter, mask) in bound)
            parameter.grad?.mul_(mask);
    }

    public void ApplyTo(nn.Module model) => ApplyToWeights(Bind(model));

    /// <summary>Marks the current section layout; the first layout (one byte per mask element) began with the
    /// count of targets, never negative.</summary>
    private const int BitmapLayout = -2;

    /// <summary>The masks as a checkpoint section, one bit per element:
    /// -2:i32 | targets:i32 target:string* | masks:i32 (name:string rank:i32 dims:i64* bitmap)*
    /// where a mask's bitmap holds its elements in order, least significant bit first (set = kept).</summary>
    public byte[] ToBytes()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(BitmapLayout);
            writer.Write(_targets.Count);
            foreach (var target in _targets)
                writer.Write(target);
            writer.Write(_masks.Count);
            foreach (var (name, mask) in _masks.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                writer.Write(name);
                writer.Write(mask.shape.Length);
                foreach (var dim in mask.shape)
                    writer.Write(dim);
                using var bytes = mask.to_type(ScalarType.Byte).cpu();
                var kept = bytes.data<byte>().ToArray();
                var bitmap = new byte[(kept.Length + 7) / 8];
                for (int i = 0; i < kept.Length; i++)
                    bitmap[i >> 3] |= (byte)(kept[i] << (i & 7));
                writer.Write(bitmap);
            }
        }
        return stream.ToArray();
    }

    /// <summary>Reads masks written by <see cref="ToBytes"/> (or by the first layout, a byte per element) and checks
    /// that each fits a parameter of <paramref name="model"/>.</summary>
    public static MaskSet FromBytes(string path, byte[] bytes, ZooModel model)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var set = new MaskSet();
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
            int first = reader.ReadInt32();
            bool bitmaps = first == BitmapLayout;
            int targets = bitmaps ? reader.ReadInt32() : first;
            if (targets < 0)
                throw new InvalidInputException($"{path}: pruning masks are damaged (layout {targets} unknown)");
            for (int i = 0; i < targets; i++)
                set.AddTarget(reader.ReadString());
            int count = reader.ReadInt32();
            for (int i = 0; i < count; i++)
            {
                string name = reader.ReadString();
                var shape = new long[reader.ReadInt32()];
                for (int d = 0; d < shape.Length; d++)
                    shape[d] = reader.ReadInt64();
                if (!parameters.TryGetValue(name, out var expected) || !expected.SequenceEqual(shape))
                    throw new InvalidInputException($"{path}: pruning mask {name} [{string.Join(",", shape)}] fits no parameter of the model");
                int length = checked((int)shape.Aggregate(1L, (a, b) => a * b));
                var data = bitmaps ? ReadBitmap(reader, length) : reader.ReadBytes(length);
                if (data is null || data.Length != length || data.Any(b => b > 1))
                    throw new InvalidInputException($"{path}: pruning mask {name} is damaged");
                using var mask = tensor(data, shape, ScalarType.Byte);
                set.Set(name, mask);
            }
            if (reader.BaseStream.Position != reader.BaseStream.Length)
                throw new InvalidInputException($"{path}: pruning masks have trailing bytes");
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException)
        {
            set.Dispose();
            throw new InvalidInputException($"{path}: pruning masks are damaged: {e.Message}", e);
        }
        catch
        {
            set.Dispose();
            throw;
        }
        return set;
    }

    /// <summary>0/1 per element, or null when the bitmap is cut short or marks elements past the end.</summary>
    private static byte[]? ReadBitmap(BinaryReader reader, int length)
    {
        var bitmap = reader.ReadBytes((length + 7) / 8);
        if (bitmap.Length != (length + 7) / 8 || (length % 8 != 0 && bitmap[^1] >> (length % 8) != 0))
            return null;
        var data = new byte[length];
        for (int i = 0; i < length; i++)
            data[i] = (byte)((bitmap[i >> 3] >> (i & 7)) & 1);
        return data;
    }

    /// <summary>Replaces this set's contents with <paramref name="other"/>'s (which is left empty).</summary>
    public void TakeFrom(MaskSet other)
    {
        Clear();
        foreach (var (name, mask) in other._masks)
            _masks[name] = mask;
        _targets.UnionWith(other._targets);
        other._masks.Clear();
        other._targets.Clear();
    }

    public void Clear()
    {
        foreach (var mask in _masks.Values)
            mask.Dispose();
        _masks.Clear();
        _targets.Clear();
    }

    public void Dispose() => Clear();
}
