namespace Distill.Core.Training;

/// <summary>Reported after every optimiser step and at the end of every epoch.</summary>
public sealed record TrainingProgress(
    string Phase,
    int Epoch,
    int Epochs,
    int Step,
    int StepsPerEpoch,
    double Loss,
    double SamplesPerSecond,
    TimeSpan Elapsed,
    bool EpochEnd,
    double? ValidationAccuracy = null,
    double? ValidationBitsPerByte = null);
