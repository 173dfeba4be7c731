using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

public class ZooTrainingTests
{
    [Fact]
    public void TinyMlpLearnsOpticalDigits()
    {
        var (featureValues, labelValues) = DigitsData.Load();
        int count = labelValues.Length;
        Assert.Equal(1797, count);

        torch.manual_seed(7);
        using var scope = NewDisposeScope();
        var features = tensor(featureValues).reshape(count, 64);
        var labels = tensor(labelValues);
        var order = randperm(count);
        int trainCount = 1400;
        var trainIdx = order.narrow(0, 0, trainCount);
        var testIdx = order.narrow(0, trainCount, count - trainCount);
        var trainX = features.index_select(0, trainIdx);
        var trainY = labels.index_select(0, trainIdx);

        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [32] }, [64], 10);
        using var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        model.train();
        const int batch = 64;
        for (int step = 0; step < 200; step++)
        {
            using var stepScope = NewDisposeScope();
            long start = step * batch % (trainCount - batch);
            var x = trainX.narrow(0, start, batch);
            var y = trainY.narrow(0, start, batch);
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            loss.backward();
            optimizer.step();
        }

        model.eval();
        using var noGrad = no_grad();
        var predicted = model.forward(features.index_select(0, testIdx)).argmax(1);
        double accuracy = predicted.eq(labels.index_select(0, testIdx)).to_type(ScalarType.Float64).mean().item<double>();
        Assert.True(accuracy > 0.85, $"test accuracy {accuracy:F3}");
    }
}
