using Distill.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>How one layer of a <see cref="QuantizedZooModel"/> is quantised. Schemes are null for a float layer;
/// a layer with <see cref="FloatWeights"/> has no weight scheme but a quantised output.</summary>
public sealed record QuantLayerInfo(string Name, LayerKind Kind, bool IsFloat, QuantScheme? Weights, QuantScheme? Activations, bool BatchNormFolded)
{
    public bool FloatWeights => !IsFloat && Weights is null;
}

/// <summary>Quantisation simulation of a zoo model: runs the model's <see cref="ModelGraph"/> but fake-quantises the
/// model input, every conv and linear weight (with its batch norm folded in when <see cref="QuantConfig.FoldBatchNorm"/>),
/// every layer's output after its ReLU or ReLU6, every residual add's output (after its ReLU) and every global average
/// pool's output, as an integer runtime computes them. An add sums its inputs as they are, each on its own grid, and
/// rounds the sum to its own: what an integer add does when it requantises both inputs to a common scale. The layers are the graph's
/// <see cref="ModelGraph.Layers"/>, named as their nodes ("block0.conv", "head.out").</summary>
/// <remarks>
/// The wrapper shares the zoo model's layers (registered under the same names, so parameter names match
/// the model's: block0.conv.weight, head.out.bias): training the wrapper trains the model, and
/// <c>parameters()</c> are the model's float weights plus, with LSQ, one learned scale per quantised
/// tensor ("{tensor}_scale" with dots as underscores). The zoo model keeps owning its layers: disposing
/// the wrapper releases only its own scales.
/// <para>In training mode a batch norm that is not frozen normalises with batch statistics while the
/// weight is quantised at its folded scale (conv(x, fq(W·γ/σ)) rescaled by σ/γ, then BN), as PyTorch's
/// fused conv-bn QAT modules do; in eval mode (or once frozen) the layer is exactly
/// conv(x, fq(W'), b') with the folded W', b'.</para>
/// </remarks>
public sealed class QuantizedZooModel : nn.Module<Tensor, Tensor>
{
    private readonly List<QuantLayer> _layers = [];
    private readonly Dictionary<string, QuantLayer> _byName = [];
    private readonly Dictionary<string, QuantLayer> _byLastNode = [];
    private readonly Dictionary<string, TensorQuantizer> _joinsByLastNode = [];
    private readonly List<TensorQuantizer> _ordered = [];
    private readonly HashSet<string> _batchNormNodes = [];
    private readonly TensorQuantizer? _input;
    private readonly List<BatchNorm2d> _batchNorms = [];
    private readonly List<Parameter> _lsqScales = [];
    private QuantMode _mode;

    public QuantizedZooModel(ZooModel model, QuantConfig config, QuantMode mode = QuantMode.Calibrate)
        : base($"quantized_{model?.GetName()}")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Model = model;
        Config = config;
        // The model's module groups under their own names, so parameter names match the model's.
        foreach (var (name, group) in model.named_children())
        {
            register_module(name, group);
        }

        var layers = model.Graph.Layers;
        var names = layers.Select(l => l.Name).ToList();
        foreach (var o in config.Overrides.Where(o => !names.Any(o.Matches)))
        {
            throw new InvalidInputException($"{(o.Where is null ? "" : o.Where + ": ")}quantisation override '{o.Pattern}' matches no layer; the layers are {string.Join(", ", names)}.");
        }
        // Only a conv stem: an MLP's first linear layer holds most of its weights and runs well as QGemm.
        bool floatStem = config.FirstLayerFloat && layers[0].Kind != LayerKind.Linear;
        foreach (var graphLayer in layers)
        {
            var layer = BuildLayer(graphLayer, floatWeights: floatStem && graphLayer == layers[0]);
            _layers.Add(layer);
            _byName[layer.Info.Name] = layer;
            _byLastNode[graphLayer.Last.Name] = layer;
            if (graphLayer.BatchNorm is { } bn)
            {
                _batchNorms.Add(graphLayer.Bn!);
                _batchNormNodes.Add(bn.Name);
            }
        }
        foreach (var node in model.Graph.Nodes)
        {
            if (_byName.TryGetValue(node.Name, out var layer))
            {
                _ordered.AddRange(new[] { layer.Weight, layer.Output }.OfType<TensorQuantizer>());
            }
            else if (node.Kind is LayerKind.Add or LayerKind.GlobalAvgPool)
            {
                // A residual add's output is quantised after the ReLU that follows it, if one does; an average is not a
                // code of its input's grid, so a global average pool's output is quantised again, with its own qparams.
                var last = node.Kind == LayerKind.Add ? model.Graph.ReluAfter(node) ?? node : node;
                var join = NewQuantizer($"{node.Name}.output", node.Name, QuantTensorRole.Activation, config.Activations, config.ActivationObserver, 1);
                _joinsByLastNode[last.Name] = join;
                _ordered.Add(join);
            }
        }
        if (config.QuantizeInput && !floatStem)
        {
            _input = NewQuantizer("input", "input", QuantTensorRole.Input, config.Activations, config.ActivationObserver, 1);
        }
        _mode = mode;
        train(model.training);
        // Its own learned scales join the model's layers on their device (and Module.to then knows where it is).
        this.to(ComputeDevice.Of(model));
    }

    public ZooModel Model { get; }
    public QuantConfig Config { get; }
    public long[] InputShape => Model.InputShape;
    public IReadOnlyList<QuantLayerInfo> Layers => _layers.Select(l => l.Info).ToList();

    /// <summary>Training forward passes run in QAT mode (each counts as one step).</summary>
    public long QatSteps { get; private set; }
    public bool IsFrozen => Quantizers.All(q => q.Frozen is not null);
    public bool BatchNormFrozen { get; private set; }

    public QuantMode Mode
    {
        get => _mode;
        set
        {
            if (value == QuantMode.Quantize && !IsFrozen)
            {
                throw new InvalidOperationException("Quantize mode needs frozen qparams: calibrate, then call Freeze()");
            }
            _mode = value;
        }
    }

    /// <summary>Every quantised tensor in forward order: the input, each layer's weight and output, each residual add's
    /// and global average pool's output.</summary>
    private IEnumerable<TensorQuantizer> Quantizers => (_input is null ? [] : new[] { _input }).Concat(_ordered);

    /// <summary>Fixes every tensor's qparams from its observer (weights from the current weights); after
    /// calibration this switches to <see cref="QuantMode.Quantize"/>. With LSQ the learned scales start here.</summary>
    public void Freeze()
    {
        var unobserved = Quantizers.Where(q => q.Role != QuantTensorRole.Weight && !q.HasObserved).Select(q => q.Name).ToList();
        if (unobserved.Count > 0)
        {
            throw new InvalidOperationException($"nothing was observed for {string.Join(", ", unobserved)}: run calibration batches before Freeze()");
        }
        using (var scope = NewDisposeScope())
        using (var noGrad = no_grad())
        {
            foreach (var layer in _layers.Where(l => l.Weight is not null))
            {
                layer.Weight!.Observe(EffectiveWeightsCore(layer).Weight);
            }
        }
        foreach (var q in Quantizers.Where(q => q.Frozen is null))
        {
            q.Freeze();
        }
        if (_mode == QuantMode.Calibrate)
        {
            _mode = QuantMode.Quantize;
        }
    }

    /// <summary>Puts back the state a saved model had: its frozen qparams (by tensor name, with LSQ's learned
    /// scales), whether batch norm was frozen and the QAT step count. The model then fake-quantises with
    /// them (QAT carries on with them frozen). Throws <see cref="InvalidInputException"/> when the saved
    /// tensors are not this model's.</summary>
    public void Restore(IReadOnlyList<QuantTensorParams> saved, bool batchNormFrozen, long qatSteps, string source,
        IReadOnlyDictionary<string, float[]>? learnedLogScales = null)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var byName = saved.ToDictionary(p => p.Name);
        var quantizers = Quantizers.ToList();
        var missing = quantizers.Where(q => !byName.ContainsKey(q.Name)).Select(q => q.Name).ToList();
        var extra = byName.Keys.Except(quantizers.Select(q => q.Name)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new InvalidInputException($"{source}: the saved quantisation does not fit the model " +
                $"(missing: {string.Join(", ", missing.DefaultIfEmpty("none"))}; unknown: {string.Join(", ", extra.DefaultIfEmpty("none"))}).");
        }
        foreach (var q in quantizers)
        {
            try
            {
                q.Restore(byName[q.Name].Params, learnedLogScales?.GetValueOrDefault(q.Name));
            }
            catch (InvalidInputException e)
            {
                throw new InvalidInputException($"{source}: {e.Message}", e);
            }
        }
        QatSteps = qatSteps;
        if (batchNormFrozen)
        {
            FreezeBatchNorm();
        }
        if (_mode == QuantMode.Calibrate)
        {
            _mode = QuantMode.Quantize;
        }
    }

    /// <summary>Batch norms switch to eval mode and stay there (their running statistics stop changing).</summary>
    public void FreezeBatchNorm()
    {
        BatchNormFrozen = true;
        foreach (var bn in _batchNorms)
        {
            bn.eval();
        }
    }

    /// <summary>Call at the start of each training epoch: freezes batch norm from <see cref="QuantConfig.FreezeBatchNormEpoch"/> on.</summary>
    public void BeginEpoch(int epoch)
    {
        if (Config.FreezeBatchNormEpoch is int from && epoch >= from && !BatchNormFrozen)
        {
            FreezeBatchNorm();
        }
    }

    public override void train(bool on = true)
    {
        base.train(on);
        if (BatchNormFrozen)
        {
            foreach (var bn in _batchNorms)
            {
                bn.eval();
            }
        }
    }

    /// <summary>LSQ: the learned log step sizes by tensor name, exactly as they are (empty without LSQ).</summary>
    public IReadOnlyDictionary<string, float[]> LearnedLogScales() =>
        Quantizers.Where(q => q.LsqLogScale is not null).ToDictionary(q => q.Name, q => q.LearnedLogScale()!);

    /// <summary>The qparams of every quantised tensor, in forward order. Needs frozen qparams.</summary>
    public IReadOnlyList<QuantTensorParams> QuantParameters() =>
        Quantizers.Select(q => new QuantTensorParams(q.Name, q.Layer, q.Role, q.Export())).ToList();

    /// <summary>The float weight and bias a layer computes with (batch norm folded in when folding is on,
    /// from its running statistics), detached copies in the caller's dispose scope.</summary>
    public (Tensor Weight, Tensor? Bias) EffectiveWeights(string layer)
    {
        if (!_byName.TryGetValue(layer, out var found))
        {
            throw new ArgumentException($"'{layer}' is not a layer; the layers are {string.Join(", ", _byName.Keys)}");
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (weight, bias) = EffectiveWeightsCore(found);
        return (weight.detach().clone().MoveToOuterDisposeScope(), bias?.detach().clone().MoveToOuterDisposeScope());
    }

    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var h = _input is null ? x : Activation(_input, x);
        var logits = Model.Graph.Run(h, Evaluate);
        if (_mode == QuantMode.Qat && training)
        {
            QatSteps++;
            if (QatSteps >= Config.ObserverSteps && !IsFrozen)
            {
                Freeze();
            }
        }
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>A layer's conv or linear node computes with fake-quantised weights and its batch norm (folded or
    /// not), so the batch norm node passes its input on; the layer's last node quantises the layer's output.</summary>
    private Tensor? Evaluate(GraphNode node, IReadOnlyList<Tensor> inputs)
    {
        Tensor? y = null;
        if (_byName.TryGetValue(node.Name, out var layer))
        {
            y = node.Kind == LayerKind.Linear ? RunLinear(layer, inputs[0]) : RunConv(layer, inputs[0]);
        }
        else if (_batchNormNodes.Contains(node.Name))
        {
            y = inputs[0];
        }
        if (_byLastNode.TryGetValue(node.Name, out var last))
        {
            y = LayerOutput(last, y ?? ModelGraph.Evaluate(node, inputs));
        }
        else if (_joinsByLastNode.TryGetValue(node.Name, out var join))
        {
            y = Activation(join, ModelGraph.Evaluate(node, inputs));
        }
        return y;
    }

    protected override void Dispose(bool disposing)
    {
        // The zoo model owns the shared layers; only the learned scales belong to the wrapper.
        if (disposing)
        {
            foreach (var scale in _lsqScales)
            {
                scale.Dispose();
            }
            _lsqScales.Clear();
        }
    }

    private QuantLayer BuildLayer(WeightLayer layer, bool floatWeights)
    {
        string name = layer.Name;
        var module = (nn.Module<Tensor, Tensor>)layer.Node.Module!;
        var bn = layer.Bn;
        var kind = layer.Kind;
        var weights = Config.Weights;
        var activations = Config.Activations;
        bool isFloat = false;
        foreach (var o in Config.Overrides.Where(o => o.Matches(name)))
        {
            isFloat |= o.Float;
            weights = o.Weights ?? weights;
            weights = o.WeightBits is int wb ? weights with { Bits = wb } : weights;
            activations = o.Activations ?? activations;
            activations = o.ActivationBits is int ab ? activations with { Bits = ab } : activations;
        }
        var weight = layer.Node.Weight;
        bool folded = bn is not null && Config.FoldBatchNorm;
        var info = new QuantLayerInfo(name, kind, isFloat, isFloat || floatWeights ? null : weights, isFloat ? null : activations, folded && !isFloat);
        if (isFloat)
        {
            return new QuantLayer(info, module, bn, null, null);
        }
        if (floatWeights)
        {
            return new QuantLayer(info, module, bn, null, NewQuantizer($"{name}.output", name, QuantTensorRole.Activation, activations, Config.ActivationObserver, 1));
        }
        if (weights.PerChannel && weights.ChannelAxis >= weight.dim())
        {
            throw new InvalidInputException($"weight quantisation of '{name}': channel axis {weights.ChannelAxis} does not exist in its weight of shape [{string.Join(",", weight.shape)}].");
        }
        long channels = weights.PerChannel ? weight.shape[weights.ChannelAxis] : 1;
        var weightQuantizer = NewQuantizer($"{name}.weight", name, QuantTensorRole.Weight, weights, Config.WeightObserver, channels);
        var outputQuantizer = NewQuantizer($"{name}.output", name, QuantTensorRole.Activation, activations, Config.ActivationObserver, 1);
        return new QuantLayer(info, module, bn, weightQuantizer, outputQuantizer);
    }

    private TensorQuantizer NewQuantizer(string name, string layer, QuantTensorRole role, QuantScheme scheme, ObserverKind kind, long scales)
    {
        Parameter? lsq = null;
        // The input keeps its calibrated step: learning it made the input scale's gradient NaN within a few
        // Adam steps in tests (seen only for the input; weights and layer outputs learn fine).
        if (Config.LearnedStepSize && role != QuantTensorRole.Input)
        {
            lsq = new Parameter(zeros(scales), requires_grad: true);
            register_parameter($"{name.Replace('.', '_')}_log_scale", lsq);
            _lsqScales.Add(lsq);
        }
        return new TensorQuantizer(name, layer, role, scheme, Observers.Create(kind, scheme, Config.Observer), lsq, scales);
    }

    private Tensor Activation(TensorQuantizer quantizer, Tensor x)
    {
        switch (_mode)
        {
            case QuantMode.Calibrate:
                quantizer.Observe(x);
                return x;
            case QuantMode.Qat when quantizer.Frozen is null:
                if (training)
                {
                    quantizer.Observe(x);
                }
                // An evaluation before the first training step has no range yet: it runs in float.
                return quantizer.HasObserved ? quantizer.FakeQuantize(x) : x;
            default:
                return quantizer.FakeQuantize(x);
        }
    }

    private Tensor Weight(TensorQuantizer quantizer, Tensor w)
    {
        if (quantizer.Frozen is null)
        {
            quantizer.Observe(w);
            if (_mode == QuantMode.Calibrate)
            {
                return w;
            }
        }
        return quantizer.FakeQuantize(w);
    }

    private Tensor LayerOutput(QuantLayer layer, Tensor y) => layer.Output is null ? y : Activation(layer.Output, y);

    private Tensor RunConv(QuantLayer layer, Tensor h)
    {
        var conv = (Conv2d)layer.Module;
        var bn = layer.Bn;
        Tensor Convolve(Tensor weight, Tensor? bias) =>
            nn.functional.conv2d(h, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups);

        if (layer.Weight is null)
        {
            var y = conv.call(h);
            return bn is null ? y : bn.BatchNormed(y);
        }
        if (bn is null || !Config.FoldBatchNorm)
        {
            var y = Convolve(Weight(layer.Weight, conv.weight!), conv.bias);
            return bn is null ? y : bn.BatchNormed(y);
        }
        if (bn.training)
        {
            var factor = BnFolding.Factor(bn);
            var y = Convolve(Weight(layer.Weight, conv.weight! * factor.reshape(-1, 1, 1, 1)), null);
            y = y / factor.reshape(1, -1, 1, 1);
            if (conv.bias is not null)
            {
                y = y.Plus(conv.bias.reshape(1, -1, 1, 1));
            }
            return bn.BatchNormed(y);
        }
        var (weight, bias) = BnFolding.Fold(conv, bn);
        return Convolve(Weight(layer.Weight, weight), bias);
    }

    private Tensor RunLinear(QuantLayer layer, Tensor h)
    {
        var linear = (Linear)layer.Module;
        return layer.Weight is null
            ? linear.call(h)
            : nn.functional.linear(h, Weight(layer.Weight, linear.weight!), linear.bias);
    }

    private (Tensor Weight, Tensor? Bias) EffectiveWeightsCore(QuantLayer layer) => layer.Module switch
    {
        Conv2d conv when layer.Bn is not null && Config.FoldBatchNorm && layer.Weight is not null => BnFolding.Fold(conv, layer.Bn),
        Conv2d conv => (conv.weight!, conv.bias),
        Linear linear => (linear.weight!, linear.bias),
        _ => throw new InvalidOperationException($"layer '{layer.Info.Name}' is neither a conv nor a linear layer"),
    };

    private sealed record QuantLayer(QuantLayerInfo Info, nn.Module<Tensor, Tensor> Module, BatchNorm2d? Bn, TensorQuantizer? Weight, TensorQuantizer? Output);
}
