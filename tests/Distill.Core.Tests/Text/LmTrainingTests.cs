using System.Diagnostics;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

/// <summary>A tiny byte-level teacher trained briefly on the shipped corpus, shared by the tests of
/// <see cref="LmTrainingTests"/>.</summary>
public sealed class TinyTeacherFixture : IDisposable
{
    public const int Context = 64;
    public const int Steps = 200;

    public TinyTeacherFixture()
    {
        torch.manual_seed(21);
        Data = TextData.Load(TextTestData.Corpus, new TextDataOptions { Context = Context, ValidationFraction = 0.1, Blocks = 10 });
        Teacher = new TransformerLm(new TransformerLmOptions { Layers = 2, DModel = 64, Heads = 4, Context = Context, VocabSize = 256 });
        Initial = LmEvaluator.Evaluate(Teacher, Data.Validation, Data.Tokenizer, 256);
        var watch = Stopwatch.StartNew();
        Losses = LmTrainingTests.Train(Teacher, Data.Train, Steps, lr: 3e-3, seed: 1,
            (model, input, target) => LmLosses.NextTokenCrossEntropy(model.forward(input), target), []);
        TrainSeconds = watch.Elapsed.TotalSeconds;
        Trained = LmEvaluator.Evaluate(Teacher, Data.Validation, Data.Tokenizer, 256);
    }

    public TextData Data { get; }
    public TransformerLm Teacher { get; }
    public LmEvaluation Initial { get; }
    public LmEvaluation Trained { get; }
    public IReadOnlyList<double> Losses { get; }
    public double TrainSeconds { get; }

    public void Dispose()
    {
        Teacher.Dispose();
        Data.Dispose();
    }
}

public class LmTrainingTests(TinyTeacherFixture fixture, ITestOutputHelper output) : IClassFixture<TinyTeacherFixture>
{
    private const int Batch = 32;

    [Fact]
    public void TinyLmLearnsTheCorpusWellBelowEightBitsPerByte()
    {
        output.WriteLine($"teacher {fixture.Teacher.ParameterCount} parameters, {TinyTeacherFixture.Steps} steps of {Batch}×{TinyTeacherFixture.Context} bytes in {fixture.TrainSeconds:F1} s");
        output.WriteLine($"validation before: CE {fixture.Initial.CrossEntropy:F3} nats/token, {fixture.Initial.BitsPerByte:F3} bits/byte");
        output.WriteLine($"validation after:  CE {fixture.Trained.CrossEntropy:F3} nats/token, {fixture.Trained.BitsPerByte:F3} bits/byte, perplexity {fixture.Trained.Perplexity:F2}");
        Assert.InRange(fixture.Initial.BitsPerByte, 7.5, 8.5);
        Assert.True(fixture.Trained.BitsPerByte < 4.6, $"validation bits per byte {fixture.Trained.BitsPerByte:F3}");
        Assert.Equal(fixture.Trained.CrossEntropy / Math.Log(2), fixture.Trained.BitsPerByte, 6);
    }

    [Fact]
    public void StudentDistilsFromTheTopKCache()
    {
        var data = fixture.Data;
        torch.manual_seed(22);
        var studentOptions = new TransformerLmOptions { Layers = 1, DModel = 32, Heads = 2, Context = TinyTeacherFixture.Context, VocabSize = 256 };
        using var student = new TransformerLm(studentOptions);
        const double temperature = 2.0;
        var kd = new LossOptions { Terms = [new KdOptions { Temperature = temperature, Alpha = 0.9 }] };
        using var loss = LmLossTests.NewLoss(kd, studentOptions, fixture.Teacher.Options);

        // The cache covers the first 1,024 training windows (a shared 2-core machine); the student trains on them.
        using var windows = data.Train.Subset(0, 1024);
        var watch = Stopwatch.StartNew();
        using var cache = TopKTeacherCache.Build(fixture.Teacher, windows, k: 32, temperature, batchSize: 256);
        double cacheSeconds = watch.Elapsed.TotalSeconds;
        output.WriteLine($"top-32 cache of {cache.Count} windows: {cache.Bytes / 1e6:F1} MB vs {cache.FullLogitsBytes / 1e6:F1} MB of full float32 logits "
            + $"({(double)cache.FullLogitsBytes / cache.Bytes:F1}× smaller), built in {cacheSeconds:F1} s");
        Assert.True(cache.FullLogitsBytes > 5 * cache.Bytes);

        // On real teacher outputs the 33-bucket KL is close to the full KL.
        using (var scope = NewDisposeScope())
        {
            long[] sample = Enumerable.Range(0, 64).Select(i => (long)i * 16).ToArray();
            var (input, _) = windows.Batch(sample);
            using var noGrad = no_grad();
            var studentLogits = student.forward(input);
            double full = LmLosses.SoftTargetKl(studentLogits, fixture.Teacher.forward(input), temperature).item<float>();
            double cached = TopKTeacherCache.Loss(studentLogits, cache.Batch(sample), temperature).item<float>();
            output.WriteLine($"KL on 64 windows: full {full:F4}, top-32 + tail {cached:F4}");
            Assert.InRange(cached, 0.85 * full, full + 1e-4);
        }

        var kdLosses = new List<double>();
        var before = LmEvaluator.Evaluate(student, data.Validation, data.Tokenizer, 256);
        watch.Restart();
        Train(student, windows, 80, lr: 3e-3, seed: 2, (model, input, target) => throw new InvalidOperationException(), loss.parameters(),
            (model, indices, input, target) =>
            {
                var terms = loss.Compute(new LossInputs(ModelOutputs.Of(model.Run(input, [], false)), null, target, cache.Batch(indices)));
                kdLosses.Add(terms.Part("kd")!.item<float>());
                return terms.Total;
            });
        double kdSeconds = watch.Elapsed.TotalSeconds;
        var after = LmEvaluator.Evaluate(student, data.Validation, data.Tokenizer, 256);
        output.WriteLine($"student {student.ParameterCount} parameters, 80 KD steps from the cache in {kdSeconds:F1} s; "
            + $"KD loss {kdLosses.Take(10).Average():F3} → {kdLosses.TakeLast(10).Average():F3}; "
            + $"validation {before.BitsPerByte:F3} → {after.BitsPerByte:F3} bits/byte");
        Assert.True(kdLosses.TakeLast(10).Average() < 0.6 * kdLosses.Take(10).Average());
        Assert.True(after.BitsPerByte < 5.0, $"student validation bits per byte {after.BitsPerByte:F3}");
    }

    [Fact]
    public void StudentTrainsWithLiveTeacherHintsAndAttention()
    {
        var data = fixture.Data;
        torch.manual_seed(23);
        var studentOptions = new TransformerLmOptions { Layers = 1, DModel = 32, Heads = 2, Context = TinyTeacherFixture.Context, VocabSize = 256 };
        using var student = new TransformerLm(studentOptions);
        var options = new LossOptions
        {
            Terms =
            [
                new KdOptions { Temperature = 2.0, Alpha = 0.5 },
                new HintLossOptions { Hints = [new HintOptions { StudentTap = "block0", TeacherTap = "block1", Weight = 1.0 }] },
                new AttentionDistillOptions { StudentBlock = "block0", TeacherBlock = "block0", Weight = 1.0 },
            ],
        };
        using var loss = LmLossTests.NewLoss(options, studentOptions, fixture.Teacher.Options);
        var teacher = fixture.Teacher;
        var hidden = new List<double>();
        var attention = new List<double>();
        Train(student, data.Train, 30, lr: 3e-3, seed: 3, (model, input, target) => throw new InvalidOperationException(), loss.parameters(),
            (model, indices, input, target) =>
            {
                LmOutput teacherOut;
                using (no_grad())
                {
                    teacherOut = teacher.Run(input, loss.TeacherTaps, loss.NeedsAttention);
                }
                var terms = loss.Compute(new LossInputs(ModelOutputs.Of(model.Run(input, loss.StudentTaps, loss.NeedsAttention)), ModelOutputs.Of(teacherOut), target));
                hidden.Add(terms.Part("hint")!.item<float>());
                attention.Add(terms.Part("attention")!.item<float>());
                return terms.Total;
            });
        output.WriteLine($"hint MSE {hidden.Take(5).Average():F4} → {hidden.TakeLast(5).Average():F4}; attention KL {attention.Take(5).Average():F4} → {attention.TakeLast(5).Average():F4}");
        Assert.True(hidden.TakeLast(5).Average() < 0.8 * hidden.Take(5).Average());
        Assert.True(attention.TakeLast(5).Average() < attention.Take(5).Average());
    }

    /// <summary>AdamW over shuffled windows; returns the loss per step.</summary>
    internal static List<double> Train(TransformerLm model, TokenWindows windows, int steps, double lr, int seed,
        Func<TransformerLm, Tensor, Tensor, Tensor> lossOf, IEnumerable<TorchSharp.Modules.Parameter> extra,
        Func<TransformerLm, long[], Tensor, Tensor, Tensor>? lossOfIndexed = null)
    {
        var parameters = model.parameters().Concat(extra).ToList();
        using var optimizer = optim.AdamW(parameters, lr: lr, weight_decay: 0.01);
        var batches = BatchSampler.Batches(windows.Count, Batch, shuffle: true, seed);
        var losses = new List<double>();
        model.train();
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var indices = batches[step % batches.Count];
            var (input, target) = windows.Batch(indices);
            optimizer.zero_grad();
            var value = lossOfIndexed is null ? lossOf(model, input, target) : lossOfIndexed(model, indices, input, target);
            value.backward();
            optimizer.step();
            losses.Add(value.item<float>());
        }
        model.eval();
        return losses;
    }
}
