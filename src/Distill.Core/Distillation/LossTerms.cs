using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>The loss of one batch and its parts (scalars). Soft is null without KD, Hint without a hint.</summary>
public sealed record LossTerms(Tensor Total, Tensor HardCe, Tensor? Soft, Tensor? Hint);
