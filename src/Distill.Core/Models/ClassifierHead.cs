using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>Flatten → [input dropout] → (Linear "fc{i}" → ReLU → [dropout]) per hidden width → Linear "out".
/// The cnn head uses the input dropout; the mlp uses dropout after each hidden layer.
/// Dropouts are registered as "dropout_in" and "dropout{i}".</summary>
public sealed class ClassifierHead : nn.Module<Tensor, Tensor>
{
    private readonly List<Linear> _hidden = [];
    private readonly List<Dropout?> _hiddenDropouts = [];

    // Fields named as registered: see ConvBlock for why auto-properties would duplicate them.
#pragma warning disable IDE1006
    private readonly Dropout? dropout_in;
    private readonly Linear @out;
#pragma warning restore IDE1006

    internal ClassifierHead(string name, long inFeatures, IReadOnlyList<int> hidden, int numClasses, double inputDropout, double hiddenDropout,
        CancellationToken cancel = default)
        : base(name)
    {
        InFeatures = inFeatures;
        if (inputDropout > 0)
        {
            dropout_in = nn.Dropout(inputDropout);
            register_module("dropout_in", dropout_in);
        }
        long width = inFeatures;
        for (int i = 0; i < hidden.Count; i++)
        {
            if (cancel.IsCancellationRequested)
            {
                Dispose();
                cancel.ThrowIfCancellationRequested();
            }
            var fc = nn.Linear(width, hidden[i]);
            register_module($"fc{i}", fc);
            _hidden.Add(fc);
            Dropout? dropout = null;
            if (hiddenDropout > 0)
            {
                dropout = nn.Dropout(hiddenDropout);
                register_module($"dropout{i}", dropout);
            }
            _hiddenDropouts.Add(dropout);
            width = hidden[i];
        }
        @out = nn.Linear(width, numClasses);
        register_module("out", @out);
    }

    public long InFeatures { get; }
    public Dropout? InputDropout => dropout_in;
    public IReadOnlyList<Linear> Hidden => _hidden;
    public Linear Output => @out;

    public override Tensor forward(Tensor x) => Run(x, null);

    /// <summary>Runs the head; when <paramref name="hiddenOutputs"/> is given, adds each hidden
    /// layer's output after its ReLU (before its dropout) in order.</summary>
    internal Tensor Run(Tensor x, List<Tensor>? hiddenOutputs)
    {
        var h = x.flatten(1);
        if (InputDropout is not null)
        {
            h = InputDropout.call(h);
        }
        for (int i = 0; i < _hidden.Count; i++)
        {
            h = nn.functional.relu(_hidden[i].call(h));
            hiddenOutputs?.Add(h);
            if (_hiddenDropouts[i] is { } dropout)
            {
                h = dropout.call(h);
            }
        }
        return Output.call(h);
    }
}
