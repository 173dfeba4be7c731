using System.Diagnostics;
using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>One build of teacher logits over the training set: how long it took, how many tensors
/// were alive on this thread when the teacher produced its last batch (more than at the first batch
/// means the batches' intermediates are kept until the end), and how many bytes the teacher's block
/// and linear outputs of all batches add up to (what a build holds at its peak when it keeps them).</summary>
public sealed record CacheBuildProfile(double Seconds, long LiveTensorsAtFirstBatch, long LiveTensorsAtLastBatch, long ModuleOutputBytes)
{
    public static CacheBuildProfile Measure(ZooModel teacher, Func<IDisposable> build)
    {
        var live = new List<long>();
        long outputBytes = 0;
        Tensor Count(nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
        {
            outputBytes += output.numel() * output.ElementSize;
            return output;
        }
        var layers = teacher.Graph.Layers;
        var hooks = layers.SkipLast(1).Select(l => ((nn.Module<Tensor, Tensor>)l.Node.Module!).register_forward_hook(Count))
            .Append(((nn.Module<Tensor, Tensor>)layers[^1].Node.Module!).register_forward_hook((module, input, output) =>
            {
                outputBytes += output.numel() * output.ElementSize;
                live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
                return output;
            }))
            .ToList();
        try
        {
            DistillSession.Settle();
            var clock = Stopwatch.StartNew();
            using (build())
            {
                double seconds = clock.Elapsed.TotalSeconds;
                return new CacheBuildProfile(seconds, live[0], live[^1], outputBytes);
            }
        }
        finally
        {
            foreach (var hook in hooks)
                hook.remove();
        }
    }

    /// <summary>Times a build without hooks.</summary>
    public static double Time(Func<IDisposable> build)
    {
        DistillSession.Settle();
        var clock = Stopwatch.StartNew();
        using (build())
            return clock.Elapsed.TotalSeconds;
    }
}
