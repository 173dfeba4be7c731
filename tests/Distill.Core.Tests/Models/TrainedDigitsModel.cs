using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Tests.Data;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

/// <summary>A zoo model trained once on the shipped UCI digits as 8x8 images (Adam, batches of 64, cross-entropy),
/// with its test accuracy: the fixture of the residual architectures' tests.</summary>
public abstract class TrainedDigitsModel : IDisposable
{
    protected TrainedDigitsModel(ModelSpec spec, int seed, int epochs, double lr)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Digits = DatasetLoader.Load(TestData.DigitsOptions with { ImageShape = [1, 8, 8] }, TestData.DataDir, seed: 5);
        manual_seed(seed);
        Model = ModelZoo.Build(spec, Digits.InputShape, Digits.NumClasses);
        using var optimizer = ScalarSafeOptimizers.Adam(Model.parameters(), lr, 0.9, 0.999, 0);
        Model.train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            foreach (var indices in BatchSampler.Batches(Digits.Train.Count, 64, shuffle: true, seed: epoch))
            {
                using var scope = NewDisposeScope();
                var (x, y) = Digits.Train.Batch(indices);
                optimizer.zero_grad();
                nn.functional.cross_entropy(Model.call(x), y).backward();
                optimizer.step();
            }
        }
        Model.eval();
        using (no_grad())
        using (NewDisposeScope())
        {
            TestAccuracy = Model.call(Digits.Test.Features).argmax(1).eq(Digits.Test.Labels).to_type(ScalarType.Float64).mean().item<double>();
        }
        TrainSeconds = clock.Elapsed.TotalSeconds;
    }

    public DataSplits Digits { get; }
    public ZooModel Model { get; }
    public double TestAccuracy { get; }
    public double TrainSeconds { get; }

    public void Dispose()
    {
        Model.Dispose();
        Digits.Dispose();
        GC.SuppressFinalize(this);
    }
}
