using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Training;

public static class OptimizerFactory
{
    public static optim.Optimizer Create(OptimizerOptions options, IEnumerable<Parameter> parameters) => options.Kind switch
    {
        OptimizerKind.Sgd => optim.SGD(parameters, options.LearningRate, momentum: options.Momentum,
            weight_decay: options.WeightDecay, nesterov: options.Nesterov),
        OptimizerKind.Adam => optim.Adam(parameters, options.LearningRate, options.Beta1, options.Beta2,
            weight_decay: options.WeightDecay),
        OptimizerKind.AdamW => optim.AdamW(parameters, options.LearningRate, options.Beta1, options.Beta2,
            weight_decay: options.WeightDecay),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "unknown optimiser"),
    };

    public static void SetLearningRate(optim.Optimizer optimizer, double learningRate)
    {
        foreach (var group in optimizer.ParamGroups)
            group.LearningRate = learningRate;
    }
}
