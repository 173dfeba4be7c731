using System.Text.RegularExpressions;

namespace Distill.Core.Quantization;

/// <summary>What a <see cref="QuantizedZooModel"/> does in its forward pass.</summary>
public enum QuantMode
{
    /// <summary>Observers collect ranges; nothing is quantised (outputs equal the float model's).</summary>
    Calibrate,
    /// <summary>Fake-quantise with the frozen qparams (after calibration or QAT).</summary>
    Quantize,
    /// <summary>Quantisation-aware training: observers run for <see cref="QuantConfig.ObserverSteps"/>
    /// training steps while fake-quantising with their current ranges, then freeze; gradients flow
    /// through the straight-through estimator (and into the step sizes with LSQ).</summary>
    Qat,
}

/// <summary>Changes the quantisation of the layers whose name matches <see cref="Pattern"/>
/// ("block0.conv", "block1.depthwise", "head.fc0", "head.out"; '*' matches any run of characters,
/// '?' one character). Later overrides win over earlier ones.</summary>
public sealed record LayerOverride
{
    public required string Pattern { get; init; }
    /// <summary>Leave the layer in float: neither its weight nor its output is quantised.</summary>
    public bool Float { get; init; }
    public QuantScheme? Weights { get; init; }
    public QuantScheme? Activations { get; init; }
    /// <summary>Shorthand: the weight scheme (default or <see cref="Weights"/>) with these bits.</summary>
    public int? WeightBits { get; init; }
    public int? ActivationBits { get; init; }
    /// <summary>Where the override is in the recipe (file:line:column), for error messages.</summary>
    public string? Where { get; init; }

    public bool Matches(string layer) =>
        Regex.IsMatch(layer, "^" + Regex.Escape(Pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$");
}

public sealed record QuantConfig
{
    /// <summary>Default scheme of conv and linear weights (int8 symmetric narrow per output channel).</summary>
    public QuantScheme Weights { get; init; } = QuantScheme.WeightInt8PerChannel;
    /// <summary>Default scheme of the model input and of every layer's output (int8 asymmetric per tensor).</summary>
    public QuantScheme Activations { get; init; } = QuantScheme.ActivationInt8;
    public ObserverKind WeightObserver { get; init; } = ObserverKind.MinMax;
    public ObserverKind ActivationObserver { get; init; } = ObserverKind.MinMax;
    public ObserverOptions Observer { get; init; } = new();
    /// <summary>Fold each batch norm into the conv before it, so that the folded weight is what gets
    /// quantised (as an integer runtime will run it).</summary>
    public bool FoldBatchNorm { get; init; } = true;
    /// <summary>Fake-quantise the model input too (not when <see cref="FirstLayerFloat"/> keeps a first conv in float).</summary>
    public bool QuantizeInput { get; init; } = true;
    /// <summary>A first conv layer keeps float weights and computes in float on the float input; its output is
    /// quantised, so every layer after it still runs in integer. Integer runtimes are slow on a first conv with
    /// one or three input channels (a 3x3 kernel gives a dot product of 9 or 27), where float kernels are fast
    /// and the weights are few. An MLP's first linear layer stays integer (it holds most of the weights).</summary>
    public bool FirstLayerFloat { get; init; }
    public IReadOnlyList<LayerOverride> Overrides { get; init; } = [];
    /// <summary>QAT: training steps during which the observers run before their qparams freeze.</summary>
    public int ObserverSteps { get; init; } = 100;
    /// <summary>QAT: learn the step sizes (LSQ) of weights and layer outputs after the observers freeze,
    /// starting from their scales (the model input keeps its calibrated step).</summary>
    public bool LearnedStepSize { get; init; }
    /// <summary>QAT: from this epoch (0-based) on, batch norms use and keep their running statistics.</summary>
    public int? FreezeBatchNormEpoch { get; init; }

    /// <summary>Throws <see cref="InvalidInputException"/> naming the first problem.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Weights);
        ArgumentNullException.ThrowIfNull(Activations);
        ArgumentNullException.ThrowIfNull(Observer);
        ArgumentNullException.ThrowIfNull(Overrides);
        Weights.Validate("weight quantisation");
        ValidateActivations(Activations, "activation quantisation");
        Observer.Validate();
        if (ObserverSteps < 1)
        {
            throw new InvalidInputException($"quantisation observer steps must be at least 1, got {ObserverSteps}.");
        }
        if (FreezeBatchNormEpoch is < 0)
        {
            throw new InvalidInputException($"the epoch to freeze batch norm must be 0 or more, got {FreezeBatchNormEpoch}.");
        }
        foreach (var o in Overrides)
        {
            if (string.IsNullOrWhiteSpace(o.Pattern))
            {
                throw new InvalidInputException("a quantisation layer override needs a non-empty pattern.");
            }
            var weights = (o.Weights ?? Weights) with { Bits = o.WeightBits ?? (o.Weights ?? Weights).Bits };
            weights.Validate($"weight quantisation of '{o.Pattern}'");
            var activations = (o.Activations ?? Activations) with { Bits = o.ActivationBits ?? (o.Activations ?? Activations).Bits };
            ValidateActivations(activations, $"activation quantisation of '{o.Pattern}'");
        }
    }

    private static void ValidateActivations(QuantScheme scheme, string what)
    {
        scheme.Validate(what);
        if (scheme.PerChannel)
        {
            throw new InvalidInputException($"{what}: activations are quantised per tensor (as integer runtimes do); per-channel is for weights.");
        }
    }
}
