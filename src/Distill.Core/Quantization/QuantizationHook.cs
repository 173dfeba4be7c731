using Distill.Core.Training;

namespace Distill.Core.Quantization;

/// <summary>Drives QAT around a phase's steps: batch norm freezes at its configured epoch, and observers
/// that are still running at the end of an epoch freeze there, so that every checkpoint (taken at epoch
/// ends) holds frozen qparams and a resumed run fake-quantises exactly as the uninterrupted one.</summary>
public sealed class QuantizationHook(QuantizedZooModel model) : IStepHook
{
    public void BeforeStep(StepContext step)
    {
        if (step.LocalStep % step.StepsPerEpoch == 0)
            model.BeginEpoch(step.Epoch);
    }

    public IReadOnlyDictionary<string, double> EpochEnd(EpochContext epoch)
    {
        if (!model.IsFrozen)
            model.Freeze();
        return new Dictionary<string, double> { ["quant/batch_norm_frozen"] = model.BatchNormFrozen ? 1 : 0 };
    }
}
