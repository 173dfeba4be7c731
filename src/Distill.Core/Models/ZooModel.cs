using Distill.Core.Distillation;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>A zoo model built by <see cref="ModelZoo.Build"/>. A cnn is conv blocks "block0".."block{n-1}"
/// followed by a "head"; an mlp is only a "head". Intermediate outputs ("taps") can be captured by name
/// for feature distillation.</summary>
public sealed class ZooModel : nn.Module<Tensor, Tensor>, ITeacher
{
    public const string FeaturesTap = "features";
    public const string LogitsTap = "logits";

    private readonly List<ConvBlock> _blocks;
    private readonly Dictionary<string, long[]> _tapShapes;
    private readonly List<string> _tapNames;

    internal ZooModel(ModelSpec spec, long[] inputShape, int numClasses, List<ConvBlock> blocks, ClassifierHead head, List<(string Name, long[] Shape)> taps)
        : base(spec.Arch == ModelArch.Cnn ? "cnn" : "mlp")
    {
        Spec = spec;
        InputShape = (long[])inputShape.Clone();
        NumClasses = numClasses;
        _blocks = blocks;
        Head = head;
        for (int i = 0; i < blocks.Count; i++)
        {
            register_module($"block{i}", blocks[i]);
        }
        register_module("head", head);
        _tapNames = taps.Select(t => t.Name).ToList();
        _tapShapes = taps.ToDictionary(t => t.Name, t => t.Shape);
        ParameterCount = parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    }

    public ModelSpec Spec { get; }

    string ITeacher.Description => GetName();

    /// <summary>Shape of one input sample, e.g. [1,28,28] or [64].</summary>
    public long[] InputShape { get; }
    public int NumClasses { get; }

    /// <summary>cnn: "block0".."block{n-1}" (after pooling), "features" (flattened head input), "logits".
    /// mlp: "hidden0".."hidden{n-1}" (after ReLU), "logits".</summary>
    public IReadOnlyList<string> TapNames => _tapNames;

    /// <summary>Trainable parameters, counted when the model was built.</summary>
    public long ParameterCount { get; }

    /// <summary>The conv blocks of a cnn in order (empty for an mlp).</summary>
    public IReadOnlyList<ConvBlock> Blocks => _blocks;
    public ClassifierHead Head { get; }

    /// <summary>Per-sample shape of a tap.</summary>
    public long[] TapShape(string tap)
    {
        RequireTap(tap);
        return (long[])_tapShapes[tap].Clone();
    }

    public override Tensor forward(Tensor x) => Run(x, null);

    /// <summary>Logits plus the requested taps. Tensors belong to the caller's dispose scope.</summary>
    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) ForwardWithTaps(Tensor x, IReadOnlyCollection<string> taps)
    {
        foreach (var tap in taps)
        {
            RequireTap(tap);
        }
        var captured = new Dictionary<string, Tensor>();
        var logits = Run(x, taps.Count == 0 ? null : (name, value) =>
        {
            if (taps.Contains(name))
            {
                captured[name] = value;
            }
        });
        return (logits, captured);
    }

    private Tensor Run(Tensor x, Action<string, Tensor>? capture)
    {
        var h = x;
        for (int i = 0; i < _blocks.Count; i++)
        {
            h = _blocks[i].call(h);
            capture?.Invoke($"block{i}", h);
        }
        List<Tensor>? hidden = null;
        if (Spec.Arch == ModelArch.Cnn)
        {
            if (capture is not null)
            {
                capture(FeaturesTap, h.flatten(1));
            }
        }
        else if (capture is not null)
        {
            hidden = [];
        }
        var logits = Head.Run(h, hidden);
        if (hidden is not null && capture is not null)
        {
            for (int i = 0; i < hidden.Count; i++)
            {
                capture($"hidden{i}", hidden[i]);
            }
        }
        capture?.Invoke(LogitsTap, logits);
        return logits;
    }

    private void RequireTap(string tap)
    {
        if (!_tapShapes.ContainsKey(tap))
        {
            throw new InvalidInputException($"'{tap}' is not a tap of this {GetName()} model; valid taps: {string.Join(", ", _tapNames)}.");
        }
    }
}
