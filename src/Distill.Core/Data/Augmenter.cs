using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Data;

/// <summary>Per-sample random augmentation of an image batch [N,C,H,W].</summary>
public static class Augmenter
{
    /// <summary>Shifts each sample by a random whole number of pixels in -MaxShift..MaxShift on
    /// each axis (vacated pixels become 0, i.e. the channel mean once data is standardised), and
    /// flips it horizontally with probability 1/2 when enabled. All draws come from
    /// <paramref name="generator"/>. Returns a new tensor in the caller's dispose scope.</summary>
    public static Tensor Apply(Tensor images, AugmentOptions options, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxShift);
        int s = options.MaxShift;
        // Flat rows (no image shape) come here with mixup alone: nothing to shift or flip.
        if (s == 0 && !options.HorizontalFlip)
        {
            return images.clone();
        }
        if (images.dim() != 4)
        {
            throw new ArgumentException($"augmentation needs images [N,C,H,W], got [{string.Join(",", images.shape)}]", nameof(images));
        }

        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        using var scope = NewDisposeScope();
        var dy = randint(-s, s + 1, [n, 1], dtype: ScalarType.Int64, generator: generator);
        var dx = randint(-s, s + 1, [n, 1], dtype: ScalarType.Int64, generator: generator);
        var cols = ScalarMath.Range(w, ScalarType.Int64).unsqueeze(0).expand(n, w);
        if (options.HorizontalFlip)
        {
            var flip = randint(0, 2, [n, 1], dtype: ScalarType.Int64, generator: generator);
            // Flipped samples read column w-1-j instead of j.
            cols = cols.Plus(flip * cols.Times(2).From(w - 1));
        }
        // Shifting by (dy, dx) means out[i, j] = in[i - dy, j - dx]; in the zero-padded image
        // (s pixels each side) that is padded[i - dy + s, j - dx + s].
        var rows = (ScalarMath.Range(h, ScalarType.Int64).unsqueeze(0) - dy).Plus(s);
        cols = (cols - dx).Plus(s);
        var padded = s > 0 ? nn.functional.pad(images, [s, s, s, s]) : images;
        var rowIndex = rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * s);
        var shiftedRows = padded.gather(2, rowIndex);
        var colIndex = cols.view(n, 1, 1, w).expand(n, c, h, w);
        return shiftedRows.gather(3, colIndex).MoveToOuterDisposeScope();
    }
}
