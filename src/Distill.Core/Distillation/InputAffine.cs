using Distill.Core.Data;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>What a teacher that was trained on other normalised inputs than the student's receives: the student's
/// input x (normalised with the data's mean and std) mapped per channel to (x_as_read − mean) / std, as one scale and
/// shift: scale = dataStd / std, shift = (dataMean − mean) / std. No normalisation on either side counts as mean 0 and
/// std 1. A normalisation with one value stands for every channel.</summary>
internal static class InputAffine
{
    /// <summary>Channels of a sample: the first dimension of an image [C, H, W], one for a tabular row.</summary>
    public static int Channels(long[] sampleShape) => sampleShape.Length == 3 ? (int)sampleShape[0] : 1;

    /// <summary>The scale and shift, shaped to broadcast over a batch; the caller owns them (they are kept out of any
    /// dispose scope).</summary>
    public static (Tensor Scale, Tensor Shift) Of(long[] sampleShape, Normalization? data, double[]? mean, double[]? std)
    {
        int channels = Channels(sampleShape);
        var scale = new double[channels];
        var shift = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            double dataStd = data is null ? 1 : data.Std[data.Std.Length == 1 ? 0 : c];
            double dataMean = data is null ? 0 : data.Mean[data.Mean.Length == 1 ? 0 : c];
            double teacherMean = mean is null ? 0 : mean[mean.Length == 1 ? 0 : c];
            double teacherStd = std is null ? 1 : std[std.Length == 1 ? 0 : c];
            scale[c] = dataStd / teacherStd;
            shift[c] = (dataMean - teacherMean) / teacherStd;
        }
        long[] shape = sampleShape.Length == 3 ? [1, channels, 1, 1] : [1, .. Enumerable.Repeat(1L, sampleShape.Length)];
        return (tensor(scale.Select(v => (float)v).ToArray(), shape).DetachFromDisposeScope(),
            tensor(shift.Select(v => (float)v).ToArray(), shape).DetachFromDisposeScope());
    }
}
