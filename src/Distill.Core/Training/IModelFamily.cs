using Distill.Core.Models;
using Distill.Core.Tracking;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>
/// What differs between a classifier and a language model in a run (<see cref="RunExecutor"/> does the rest, once
/// for both): the data and models it loaded (all bad input found before the run opens), its tags at the start, how a
/// checkpoint restores and saves its models, the loss and steps of each phase, and how it records its final
/// models (and exports them). A family is built for one run and disposed with it.
/// </summary>
internal interface IModelFamily : IDisposable
{
    /// <summary>The data's fingerprint: recorded as a tag, saved in every checkpoint, checked on resume.</summary>
    string DataFingerprint { get; }

    /// <summary>Training samples per epoch (images, rows or token windows).</summary>
    long TrainCount { get; }

    /// <summary>Loads the models' weights (and pruning or quantisation state) from a training checkpoint.</summary>
    void Restore(string path, TrainingCheckpointHeader header, IReadOnlyDictionary<string, byte[]> sections, CancellationToken cancel);

    /// <summary>The family's own tags (data sizes, sources, tokenizer, ONNX teacher) and its models' parameter counts.</summary>
    void RecordStart(RunContext run);

    /// <summary>Readies the student before a stage (e.g. quantises it when the stage first asks for it).</summary>
    void PreparePhase(RunContext run, RunPhase phase, int index, CancellationToken cancel);

    /// <summary>A stage with no epochs (post-training calibration): measures the calibrated student.</summary>
    void Calibrate(RunContext run, RunPhase phase, PhaseState state, CancellationToken cancel);

    /// <summary>The loss and the trained modules of one phase. Called under the phase's seed.</summary>
    FamilyPhase StartPhase(RunContext run, RunPhase phase, int index);

    /// <summary>After a phase's epochs (e.g. the sparsity table and shrink of a prune stage); <paramref name="epoch"/>
    /// is the model's last metric epoch.</summary>
    void EndPhase(RunContext run, RunPhase phase, int epoch);

    /// <summary>What a checkpoint holds besides the phase's loss and optimiser: model descriptors and sections, in
    /// the order they are written (the student's before the loss, the others after the optimiser).</summary>
    CheckpointParts CheckpointParts();

    /// <summary>Evaluates and saves the final models (with their test or validation figures), then exports.</summary>
    void Finish(RunContext run, int studentEpochs, CancellationToken cancel);
}

/// <summary>One phase as a family trains it: the modules the optimiser steps (the trained model, or its fake-quant
/// view, then the loss's adapters), the step hooks, the phase's steps for <see cref="EpochTrainer"/> (built inside
/// the phase's child run), the size of the model for the log, and a note on how it learns (e.g. a teacher cache).</summary>
internal sealed record FamilyPhase(nn.Module Loss, IReadOnlyList<Parameter> Parameters, IReadOnlyList<IStepHook> Hooks,
    Func<ITracker, PhaseState, CancellationToken, IPhaseSteps> Steps, long ModelParameters, string Note) : IDisposable
{
    public void Dispose() => Loss.Dispose();
}

/// <summary>The family's part of a training checkpoint.</summary>
internal sealed record CheckpointParts(Dictionary<string, ModelDescriptor> Models, IReadOnlyList<KeyValuePair<string, byte[]>> Student,
    IReadOnlyList<KeyValuePair<string, byte[]>> Others);
