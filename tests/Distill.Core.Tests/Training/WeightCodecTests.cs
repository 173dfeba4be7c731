using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Tests.Pruning;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Training;

public sealed class WeightCodecTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distill-weight-codec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The digits student of configs/digits/prune.yaml: 5,386 parameters.</summary>
    private static readonly ModelSpec Student = new() { Arch = ModelArch.Cnn, Channels = [16, 32], Depthwise = [false, true], Hidden = [32] };

    private static Dictionary<string, byte[]> StateBytes(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv =>
        {
            using var cpu = kv.Value.detach().contiguous();
            return cpu.bytes.ToArray();
        });

    private static void AssertSameBits(nn.Module expected, nn.Module actual)
    {
        var a = StateBytes(expected);
        var b = StateBytes(actual);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, bytes) in a)
            Assert.True(bytes.AsSpan().SequenceEqual(b[name]), $"{name} differs after the round trip");
    }

    [Theory]
    [InlineData(1000, 1000, 4, WeightCodec.Encoding.Dense)]   // dense 4,000 < bitmap 125 + 4,000
    [InlineData(1000, 200, 4, WeightCodec.Encoding.Bitmap)]   // bitmap 125 + 800 = 925 < indices 4 + 1,600 < dense 4,000
    [InlineData(1000, 500, 4, WeightCodec.Encoding.Bitmap)]   // bitmap 125 + 2,000 < dense 4,000 (50 % sparse still pays)
    [InlineData(1000, 15, 4, WeightCodec.Encoding.Indices)]   // indices 4 + 120 = 124 < bitmap 125 + 60 = 185
    [InlineData(1000, 0, 4, WeightCodec.Encoding.Indices)]    // indices 4 < bitmap 125
    [InlineData(10, 10, 8, WeightCodec.Encoding.Dense)]
    [InlineData(1, 1, 8, WeightCodec.Encoding.Dense)]         // dense 8 < bitmap 1 + 8
    public void Encoding_is_the_smallest_of_the_three(long count, long nonZero, int size, WeightCodec.Encoding expected) =>
        Assert.Equal(expected, WeightCodec.Choose(count, nonZero, size));

    [Fact]
    public void Weights_with_signed_zeros_nan_payloads_and_denormals_come_back_bit_for_bit()
    {
        manual_seed(5);
        using var model = PruningModels.BuildCnn(5);
        using (no_grad())
        {
            var weight = model.named_parameters().First(p => p.name == "block1.conv.weight").parameter;
            using var flat = weight.view(-1);
            // Every other element zero, some of them −0.0; a NaN with a payload and a denormal among the rest.
            for (int i = 0; i < flat.shape[0]; i += 2)
                flat[i] = tensor(i % 4 == 0 ? 0.0f : -0.0f);
            flat[1] = tensor(BitConverter.Int32BitsToSingle(0x7FC0_1234));
            flat[3] = tensor(float.Epsilon * 7);
        }
        var bytes = WeightCodec.Encode(model);

        using var loaded = PruningModels.BuildCnn(6);
        WeightCodec.Load("x.ckpt", loaded, bytes);
        AssertSameBits(model, loaded);
    }

    [Fact]
    public void A_linear_layer_pruned_to_eighty_percent_costs_its_bitmap_and_its_kept_values()
    {
        manual_seed(1);
        using var linear = nn.Linear(100, 10);
        using (no_grad())
        {
            var weight = linear.weight!;
            using var keep = rand(10, 100).lt(0.2).to_type(ScalarType.Float32);
            weight.mul_(keep).add_(0.0f);
        }
        long kept = linear.weight!.count_nonzero().item<long>();
        var bytes = WeightCodec.Encode(linear);
        // 6 magic + 1 version + 4 count; "weight": 1 + 6 name, 1 dtype, 4 rank, 2·8 dims, 1 encoding,
        // 1,000 bits = 125 bytes, 4 bytes per kept value; "bias": 1 + 4, 1, 4, 8, 1, 40 dense.
        Assert.Equal(11 + (7 + 1 + 4 + 16 + 1 + 125 + 4 * kept) + (5 + 1 + 4 + 8 + 1 + 40), bytes.Length);

        using var loaded = nn.Linear(100, 10);
        WeightCodec.Load("x.ckpt", loaded, bytes);
        AssertSameBits(linear, loaded);
    }

    [Fact]
    public void Masked_weights_are_positive_zeros_so_that_they_compact()
    {
        using var model = PruningModels.BuildCnn(7);
        using var masks = new MaskSet();
        new Pruner(model, new PruneOptions { Sparsity = 0.8 }, "p").Update(model, masks, s => s);
        foreach (var (parameter, mask) in masks.Bind(model))
        {
            using var pruned = mask.eq(0);
            using var values = parameter.masked_select(pruned);
            Assert.All(values.data<float>().ToArray(), v => Assert.Equal(0, BitConverter.SingleToInt32Bits(v)));
        }
    }

    [Fact]
    public void A_pruned_student_checkpoint_is_smaller_than_the_dense_one_and_loads_back_exactly()
    {
        manual_seed(11);
        using var model = ModelZoo.Build(Student, [1, 8, 8], 10);
        var dense = Path.Combine(_dir, "dense.ckpt");
        ModelCheckpoint.Save(dense, model, null, "student", null);

        using var masks = new MaskSet();
        new Pruner(model, new PruneOptions { Sparsity = 0.8 }, "p").Update(model, masks, s => s);
        var pruned = Path.Combine(_dir, "pruned.ckpt");
        ModelCheckpoint.Save(pruned, model, null, "student", null, new Dictionary<string, byte[]> { [MaskSet.Section] = masks.ToBytes() });

        // 5,386 float parameters; the 80 % of the pruned layers' weights that are zero cost a bit each instead of 4 bytes.
        long denseSize = new FileInfo(dense).Length, prunedSize = new FileInfo(pruned).Length;
        Assert.True(denseSize > 5386 * 4, $"dense checkpoint {denseSize} bytes");
        Assert.True(prunedSize < denseSize * 0.6, $"pruned {prunedSize} bytes, dense {denseSize}");

        using var student = new StudentPruning(ModelZoo.Build(Student, [1, 8, 8], 10));
        student.LoadStudentCheckpoint(pruned);
        AssertSameBits(model, student.Student);
        Assert.Equal(masks.Targets, student.Masks.Targets);
        foreach (var name in masks.Names)
            Assert.True(masks.Get(name)!.eq(student.Masks.Get(name)!).all().item<bool>(), name);
    }

    [Fact]
    public void A_checkpoint_in_the_first_layout_still_loads_weights_and_masks()
    {
        using var model = PruningModels.BuildCnn(8);
        using var masks = new MaskSet();
        new Pruner(model, new PruneOptions { Sparsity = 0.6 }, "p").Update(model, masks, s => s);

        // The first layout: TorchSharp's module.save stream, and a byte per mask element after the target count.
        using var weights = new MemoryStream();
        using (var writer = new BinaryWriter(weights, System.Text.Encoding.UTF8, leaveOpen: true))
            model.save(writer);
        using var maskBytes = new MemoryStream();
        using (var writer = new BinaryWriter(maskBytes, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(masks.Targets.Count);
            foreach (var target in masks.Targets)
                writer.Write(target);
            writer.Write(masks.Names.Count);
            foreach (var name in masks.Names.Order(StringComparer.Ordinal))
            {
                var mask = masks.Get(name)!;
                writer.Write(name);
                writer.Write(mask.shape.Length);
                foreach (var dim in mask.shape)
                    writer.Write(dim);
                using var bytes = mask.to_type(ScalarType.Byte);
                writer.Write(bytes.data<byte>().ToArray());
            }
        }
        var path = Path.Combine(_dir, "old.ckpt");
        ModelCheckpoint.Save(path, model, null, "student", null);
        var (header, _) = CheckpointFile.Read(path);
        CheckpointFile.Write(path, header, new Dictionary<string, byte[]> { ["model"] = weights.ToArray(), [MaskSet.Section] = maskBytes.ToArray() });

        using var student = new StudentPruning(PruningModels.BuildCnn(9));
        student.LoadStudentCheckpoint(path);
        AssertSameBits(model, student.Student);
        foreach (var name in masks.Names)
            Assert.True(masks.Get(name)!.eq(student.Masks.Get(name)!).all().item<bool>(), name);
    }

    [Fact]
    public void Damaged_or_misfitting_weights_are_bad_input_naming_the_file()
    {
        using var model = PruningModels.BuildCnn(10);
        var bytes = WeightCodec.Encode(model);
        using var other = ModelZoo.Build(PruningModels.Cnn with { Hidden = [24] }, [1, 8, 8], 10);

        var misfit = Assert.Throws<InvalidInputException>(() => WeightCodec.Load("x.ckpt", other, bytes));
        Assert.StartsWith("x.ckpt: weights do not fit the model: head.fc0.weight is saved as Float32 [20,", misfit.Message);
        var truncated = Assert.Throws<InvalidInputException>(() => WeightCodec.Load("x.ckpt", model, bytes[..^3]));
        Assert.StartsWith("x.ckpt: weights do not fit the model:", truncated.Message);
        var trailing = Assert.Throws<InvalidInputException>(() => WeightCodec.Load("x.ckpt", model, [.. bytes, 0]));
        Assert.Contains("trailing bytes", trailing.Message);
    }
}
