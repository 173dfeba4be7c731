using Distill.Core.Distillation;
using Distill.Core.Pruning;
using Distill.Core.Quantization;

namespace Distill.Core.Training;

public sealed record OptimizerOptions
{
    public OptimizerKind Kind { get; init; } = OptimizerKind.Adam;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Explicit for every optimiser (TorchSharp's AdamW default is 0, PyTorch's 0.01).</summary>
    public double WeightDecay { get; init; }
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; }
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Throws <see cref="InvalidInputException"/> naming the first option out of its range (<see cref="Optimizers.Options"/>).</summary>
    public void Validate()
    {
        Option("lr").Check(LearningRate);
        Option("weight_decay").Check(WeightDecay);
        Option("momentum").Check(Momentum);
        Option("betas").Check(Beta1);
        Option("betas").Check(Beta2);
    }

    private static OptionSpec Option(string key) => Optimizers.Options.First(o => o.Key == key);
}

/// <summary>Learning-rate schedule, evaluated per optimiser step.</summary>
public sealed record ScheduleOptions
{
    public ScheduleKind Kind { get; init; } = ScheduleKind.Constant;
    /// <summary>Linear warm-up from 0 over this many epochs, before the schedule proper (not for one-cycle).</summary>
    public double WarmupEpochs { get; init; }
    /// <summary>step: multiply by Gamma every StepEpochs epochs.</summary>
    public int StepEpochs { get; init; } = 1;
    public double Gamma { get; init; } = 0.1;
    /// <summary>cosine: final learning rate.</summary>
    public double MinLearningRate { get; init; }
    /// <summary>one-cycle: fraction of steps spent rising to the peak (the optimiser's learning rate).</summary>
    public double PctStart { get; init; } = 0.3;

    /// <summary>Throws <see cref="InvalidInputException"/> naming the first option out of its range (<see cref="Schedules.Options"/>).</summary>
    public void Validate()
    {
        Option("warmup_epochs").Check(WarmupEpochs);
        Option("step_epochs").Check(StepEpochs);
        Option("gamma").Check(Gamma);
        Option("min_lr").Check(MinLearningRate);
        Option("pct_start").Check(PctStart);
    }

    private static OptionSpec Option(string key) => Schedules.Options.First(o => o.Key == key);
}

public sealed record EarlyStopOptions
{
    /// <summary>val/acc (higher is better) or val/loss (lower is better).</summary>
    public string Metric { get; init; } = "val/acc";
    public int Patience { get; init; } = 3;
    public double MinDelta { get; init; }
}

public sealed record StageOptions
{
    public required string Name { get; init; }
    public int Epochs { get; init; } = 1;
    public int BatchSize { get; init; } = 128;
    public OptimizerOptions Optimizer { get; init; } = new();
    public ScheduleOptions Schedule { get; init; } = new();
    public LossOptions Loss { get; init; } = new();
    /// <summary>Clip the global gradient norm to this value; null = no clipping.</summary>
    public double? ClipGradNorm { get; init; }
    public EarlyStopOptions? EarlyStop { get; init; }
    /// <summary>Reuse teacher outputs across epochs when the data has no random augmentation.</summary>
    public bool CacheTeacher { get; init; } = true;
    /// <summary>Prune the student in this stage; the masks stay on for the rest of the run.</summary>
    public PruneOptions? Prune { get; init; }
    /// <summary>Quantise the student in this stage (QAT, or PTQ when <see cref="Epochs"/> is 0); it stays
    /// quantised for the rest of the run.</summary>
    public QuantizeOptions? Quantize { get; init; }
}
