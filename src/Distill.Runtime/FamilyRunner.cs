using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Distill.Runtime;

/// <summary>What one call ran: the logits ([batch, classes], row-major), the variant that served it and why.</summary>
public sealed record FamilyOutput(float[] Logits, int Classes, VariantChoice Choice);

/// <summary>
/// Runs a model family: before each call it reads the device state, lets the <see cref="FamilySwitcher"/> pick a
/// variant and runs that variant's ONNX file (one ONNX Runtime session per variant, made when first used, with the
/// thread count the family was measured with).
/// </summary>
public sealed class FamilyRunner : IDisposable
{
    private readonly FamilyManifest _manifest;
    private readonly Func<DeviceState> _readState;
    private readonly FamilySwitcher _switcher;
    private readonly Dictionary<string, InferenceSession> _sessions = [];

    /// <param name="readState">Where the state comes from, e.g. <c>new SysfsDeviceState().Read</c>.</param>
    public FamilyRunner(FamilyManifest manifest, Func<DeviceState> readState, double? budgetMs = null)
    {
        _manifest = manifest;
        _readState = readState;
        _switcher = new FamilySwitcher(manifest, budgetMs);
    }

    /// <param name="samples">Row-major samples of the manifest's input shape, <paramref name="batch"/> of them.</param>
    public FamilyOutput Run(float[] samples, int batch)
    {
        int length = _manifest.Input.SampleLength;
        if (batch < 1 || samples.Length != batch * length)
            throw new ArgumentException($"expected {batch} sample(s) of {length} values ({string.Join("x", _manifest.Input.Shape)}), got {samples.Length} values");
        var choice = _switcher.Observe(_readState());
        var session = Session(choice.Variant);
        var input = new DenseTensor<float>(samples, [batch, .. _manifest.Input.Shape]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(_manifest.Input.Name, input)]);
        var logits = results[0].AsTensor<float>();
        return new FamilyOutput(logits.ToArray(), (int)(logits.Length / batch), choice);
    }

    private InferenceSession Session(FamilyVariant variant)
    {
        if (_sessions.TryGetValue(variant.Name, out var session))
            return session;
        using var options = new SessionOptions { IntraOpNumThreads = Math.Max(1, _manifest.MeasuredWith.Threads), InterOpNumThreads = 1 };
        session = new InferenceSession(_manifest.PathOf(variant), options);
        _sessions.Add(variant.Name, session);
        return session;
    }

    public void Dispose()
    {
        foreach (var session in _sessions.Values)
            session.Dispose();
        _sessions.Clear();
    }
}
