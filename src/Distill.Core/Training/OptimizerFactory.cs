using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Training;

public static class OptimizerFactory
{
    /// <summary>The optimiser <see cref="OptimizerOptions.Kind"/> names (<see cref="Optimizers.Registry"/>), after checking the options.</summary>
    public static optim.Optimizer Create(OptimizerOptions options, IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Optimizers.Of(options.Kind).Create(options, parameters);
    }

    public static void SetLearningRate(optim.Optimizer optimizer, double learningRate)
    {
        foreach (var group in optimizer.ParamGroups)
            group.LearningRate = learningRate;
    }
}
