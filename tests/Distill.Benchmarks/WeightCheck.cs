using Distill.Core.Models;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

public static class WeightCheck
{
    /// <summary>Largest absolute difference between the parameters and buffers of two models of the same spec.</summary>
    public static double MaxDifference(ZooModel a, ZooModel b)
    {
        using var scope = NewDisposeScope();
        var left = a.parameters().Cast<Tensor>().Concat(a.buffers()).ToList();
        var right = b.parameters().Cast<Tensor>().Concat(b.buffers()).ToList();
        if (left.Count != right.Count)
            throw new ArgumentException("the models have different layouts");
        double max = 0;
        for (int i = 0; i < left.Count; i++)
        {
            if (left[i].dtype != ScalarType.Float32)
                continue; // num_batches_tracked counters
            max = Math.Max(max, (left[i] - right[i]).abs().max().item<float>());
        }
        return max;
    }
}
