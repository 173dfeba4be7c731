using System.Runtime;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>Runs an optimiser step with the garbage collector held off.</summary>
/// <remarks>TorchSharp's optimisers pass implicit Scalars (made from doubles) to native calls without
/// keeping them alive; a GC during the call can finalise one while LibTorch reads it, which failed runs
/// with "Expected false to be true … toFloat at c10/core/Scalar.h:140" from add_ (seen twice in CI
/// runs of the resume tests). No GC can start inside a no-GC region, so no such Scalar is finalised
/// mid-call. The budget covers the step's few managed wrappers; if it is exceeded the runtime ends the
/// region early, which leaves the old behaviour.</remarks>
public static class OptimizerStep
{
    private const long AllocationBudget = 4 * 1024 * 1024;

    public static void Run(optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        bool held = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(AllocationBudget);
        try
        {
            optimizer.step();
        }
        finally
        {
            if (held && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
                GC.EndNoGCRegion();
        }
    }
}
