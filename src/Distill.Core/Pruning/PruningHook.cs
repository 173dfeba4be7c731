using Distill.Core.Models;
using Distill.Core.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>
/// Keeps a model's masks in force during a phase and, in a stage with a prune section, updates them on
/// schedule. Before every optimiser step the gradients of masked entries are zeroed, so Adam's moments
/// and SGD's momentum get no signal for them; after the step the masked weights are zeroed again, which
/// also undoes whatever residual momentum or decoupled weight decay moved them. Pruned weights therefore
/// stay exactly zero, in this stage and every later one.
/// </summary>
public sealed class PruningHook : IStepHook
{
    private readonly ZooModel _model;
    private readonly MaskSet _masks;
    private readonly PruneOptions? _options;
    private readonly Pruner? _pruner;
    private readonly SparsitySchedule? _schedule;
    private IReadOnlyList<(Parameter Parameter, Tensor Mask)> _bound;

    /// <param name="options">The stage's prune section; null in a stage that only keeps earlier masks.</param>
    public PruningHook(ZooModel model, MaskSet masks, PruneOptions? options, string stage, long stepsPerEpoch, int epochs)
    {
        _model = model;
        _masks = masks;
        _options = options;
        if (options is not null)
        {
            _pruner = new Pruner(model, options, stage);
            _schedule = new SparsitySchedule(options, stepsPerEpoch, stepsPerEpoch * epochs);
        }
        _bound = masks.Bind(model);
        MaskSet.ApplyToWeights(_bound);
    }

    public void BeforeStep(StepContext step)
    {
        if (_pruner is null || _schedule is null || !_schedule.IsUpdateStep(step.LocalStep))
            return;
        double initial = _options!.InitialSparsity;
        _pruner.Update(_model, _masks, final => _schedule.At(step.LocalStep, Math.Min(initial, final), final));
        _bound = _masks.Bind(_model);
    }

    public void BeforeOptimizerStep(StepContext step) => MaskSet.ApplyToGradients(_bound);

    public void AfterOptimizerStep(StepContext step) => MaskSet.ApplyToWeights(_bound);

    public IReadOnlyDictionary<string, double> EpochEnd(EpochContext epoch)
    {
        using var scope = NewDisposeScope();
        return SparsityReport.Metrics(_model, _masks);
    }
}
