namespace Distill.Core.Pruning;

/// <summary>When a prune section updates its masks and to which sparsity, by the stage's own optimiser step.</summary>
public sealed class SparsitySchedule
{
    public SparsitySchedule(PruneOptions options, long stepsPerEpoch, long totalSteps)
    {
        Kind = options.Schedule;
        UpdateEvery = Math.Max(1, options.UpdateEvery);
        long last = Math.Max(0, totalSteps - 1);
        StartStep = Math.Clamp((long)Math.Round(options.StartEpoch * stepsPerEpoch), 0, last);
        EndStep = options.EndEpoch is { } end
            ? Math.Clamp((long)Math.Round(end * stepsPerEpoch), StartStep, last)
            : last;
    }

    public PruneSchedule Kind { get; }
    public long StartStep { get; }

    /// <summary>gradual: the step at which the final sparsity is reached (at the latest the stage's last step).</summary>
    public long EndStep { get; }
    public long UpdateEvery { get; }

    /// <summary>Whether the masks are recomputed before step <paramref name="step"/>.</summary>
    public bool IsUpdateStep(long step) => Kind == PruneSchedule.OneShot
        ? step == StartStep
        : step >= StartStep && step <= EndStep && ((step - StartStep) % UpdateEvery == 0 || step == EndStep);

    /// <summary>Target sparsity at <paramref name="step"/> for a layer (or group) whose final sparsity is <paramref name="final"/>.</summary>
    public double At(long step, double initial, double final) => Kind == PruneSchedule.OneShot
        ? final
        : Cubic(initial, final, step, StartStep, EndStep);

    /// <summary>s_t = s_f + (s_i − s_f)(1 − (t − t0)/(t1 − t0))^3, held at s_i before t0 and at s_f from t1 on.</summary>
    public static double Cubic(double initial, double final, long step, long start, long end)
    {
        if (step <= start)
            return end <= start ? final : initial;
        if (step >= end)
            return final;
        double progress = (double)(step - start) / (end - start);
        return final + (initial - final) * Math.Pow(1 - progress, 3);
    }
}
