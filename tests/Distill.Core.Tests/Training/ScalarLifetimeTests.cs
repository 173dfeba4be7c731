using Distill.Core;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Distill.Core.Training;
using Xunit.Abstractions;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Training;

/// <summary>A TorchSharp Scalar made implicitly from a number (<c>mul_(0.9)</c>, <c>add_(g, alpha: 0.1)</c>) is passed to
/// LibTorch by its handle alone; a garbage collection while LibTorch runs can finalise it mid-call, and LibTorch then
/// reads freed memory ("Expected false to be true … toFloat"). These tests run optimiser steps while another thread
/// collects garbage and runs finalisers as fast as it can: with TorchSharp's own Adam/AdamW/SGD step this failed
/// within a second or two.</summary>
public sealed class ScalarLifetimeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);
    private const bool BatchNorm = true;

    [Theory]
    [InlineData(OptimizerKind.Adam)]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Sgd)]
    public void Optimiser_steps_survive_a_thread_that_collects_garbage_all_the_time(OptimizerKind kind)
    {
        // Many tiny parameters: many native calls per step, each with its Scalars, and little work in each.
        var parameters = Enumerable.Range(0, 64).Select(i => new Parameter(randn(4))).ToArray();
        using var optimizer = OptimizerFactory.Create(new OptimizerOptions { Kind = kind, WeightDecay = 1e-4 }, parameters);
        int steps = WithCollectorThread(() =>
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = parameters.Select(p => p.Squared().sum()).Aggregate((a, b) => a.Plus(b));
            loss.backward();
            optimizer.step();
        });
        Assert.True(steps > 10, $"only {steps} steps ran");
        Assert.All(parameters, p => Assert.True(p.isfinite().all().item<bool>()));
    }

    /// <summary>The path of a classifier's KD step: a residual-free CNN with batch norm under QAT with learned step sizes,
    /// KD + DKD losses against a teacher, pruning masks and an Adam step.</summary>
    [Fact]
    public void Qat_kd_steps_of_a_cnn_survive_a_thread_that_collects_garbage_all_the_time()
    {
        var spec = new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 6], Depthwise = [false, true], Hidden = [8], BatchNorm = BatchNorm };
        using var teacher = ModelZoo.Build(spec, [1, 8, 8], 10);
        teacher.eval();
        using var student = ModelZoo.Build(spec, [1, 8, 8], 10);
        using var quantized = new QuantizedZooModel(student, new QuantConfig { LearnedStepSize = true, ObserverSteps = 2 }, QuantMode.Qat);
        using var optimizer = OptimizerFactory.Create(new OptimizerOptions(), quantized.parameters());
        quantized.train();
        using var generator = new Generator(3);
        var dkd = new DkdOptions();
        int steps = WithCollectorThread(() =>
        {
            using var scope = NewDisposeScope();
            var x = randn([16, 1, 8, 8], generator: generator);
            var y = randint(0, 10, [16], generator: generator);
            Tensor teacherLogits;
            using (no_grad())
                teacherLogits = teacher.call(x);
            optimizer.zero_grad();
            var logits = quantized.call(x);
            var loss = KdLoss.SoftTarget(logits, teacherLogits, 4.0).Plus(DkdTerm.Decoupled(logits, teacherLogits, y, dkd));
            loss.backward();
            optimizer.step();
        });
        Assert.True(steps > 10, $"only {steps} steps ran");
    }

    /// <summary>Distill's own loss and fake-quant arithmetic on tiny tensors (many native calls with numbers a second).</summary>
    [Fact]
    public void Loss_and_fake_quant_arithmetic_survives_a_thread_that_collects_garbage_all_the_time()
    {
        using var generator = new Generator(5);
        var qparams = QParams.FromRange(QuantScheme.ActivationInt8, new QRange([-2f], [2f]));
        var dkd = new DkdOptions();
        int steps = WithCollectorThread(() =>
        {
            using var scope = NewDisposeScope();
            var student = randn([4, 10], generator: generator).requires_grad_();
            var teacher = randn([4, 10], generator: generator);
            var targets = randint(0, 10, [4], generator: generator);
            var loss = KdLoss.SoftTarget(student, teacher, 4.0)
                .Plus(DkdTerm.Decoupled(student, teacher, targets, dkd))
                .Plus(LmLosses.Mixed(student, teacher, targets, 0.5, 2.0))
                .Plus(FakeQuant.Apply(student, qparams).sum());
            loss.backward();
        });
        Assert.True(steps > 10, $"only {steps} steps ran");
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(null)]
    public void BatchNormed_is_BatchNorm2d_forward_in_training(double? momentum)
    {
        using var scope = NewDisposeScope();
        using var reference = nn.BatchNorm2d(3);
        using var explicitScalars = nn.BatchNorm2d(3);
        reference.momentum = momentum;
        explicitScalars.momentum = momentum;
        reference.train();
        explicitScalars.train();
        using var generator = new Generator(7);
        for (int i = 0; i < 3; i++)
        {
            var x = randn([5, 3, 4, 4], generator: generator);
            Assert.True(reference.call(x).allclose(explicitScalars.BatchNormed(x), 0, 0));
        }
        Assert.True(reference.running_mean!.allclose(explicitScalars.running_mean!, 0, 0));
        Assert.True(reference.running_var!.allclose(explicitScalars.running_var!, 0, 0));
        Assert.Equal(3, explicitScalars.num_batches_tracked!.item<long>());
    }

    /// <summary>Runs <paramref name="step"/> until the budget is spent while another thread collects; returns the step count.</summary>
    private int WithCollectorThread(Action step)
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                // Gen 0 is where a just-made Scalar lives; a full collection would only slow the steps down.
                GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                // Let the stepping thread run between collections: back to back they can starve it.
                Thread.Sleep(1);
            }
        })
        { IsBackground = true };
        collector.Start();
        int steps = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < Budget)
            {
                step();
                steps++;
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
        output.WriteLine($"{steps} steps in {Budget.TotalSeconds} s");
        return steps;
    }
}
