using SkiaSharp;

namespace Distill.Core.Data;

/// <summary>Decodes one PNG or JPEG file (SkiaSharp) to planar uint8 pixels [C, H, W] of a fixed size.</summary>
internal static class ImageDecoder
{
    /// <summary>Null when the bytes are not a complete image Skia can decode (<paramref name="problem"/> says why).
    /// <paramref name="sourceChannels"/> is 1 for a grey image (PNG grey, JPEG grey), 3 for any colour one (alpha is
    /// dropped). A colour image asked for as grey, or the other way round, is converted only when
    /// <paramref name="convert"/>; otherwise the result is null and <paramref name="problem"/> names both counts.</summary>
    public static byte[]? Decode(byte[] file, int height, int width, int channels, bool convert, out int sourceChannels, out string problem)
    {
        sourceChannels = 0;
        problem = "";
        using var stream = new SKMemoryStream(file);
        using var codec = SKCodec.Create(stream, out var created);
        if (codec is null)
        {
            problem = $"not a PNG or JPEG image Skia can decode ({created})";
            return null;
        }
        sourceChannels = codec.Info.ColorType == SKColorType.Gray8 ? 1 : 3;
        if (sourceChannels != channels && !convert)
        {
            problem = $"has {sourceChannels} channel(s) ({(sourceChannels == 1 ? "grey" : "colour")}), but data.channels is {channels}; convert the images or set data.convert_channels: true";
            return null;
        }
        // Decoded as RGBA without a colour space, so that grey values come back as R = G = B = the stored value, unchanged.
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            // IncompleteInput (a truncated file) would leave the rest of the image blank: refused as well.
            problem = $"cannot decode the image ({result})";
            return null;
        }
        using var sized = info.Width == width && info.Height == height
            ? null
            : bitmap.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
        var pixels = (sized ?? bitmap).GetPixelSpan();
        return Planar(pixels, height * width, channels, sourceChannels);
    }

    private static byte[] Planar(ReadOnlySpan<byte> rgba, int area, int channels, int sourceChannels)
    {
        var planar = new byte[channels * area];
        for (int p = 0; p < area; p++)
        {
            byte r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2];
            if (channels == 3)
            {
                planar[p] = r;
                planar[area + p] = g;
                planar[2 * area + p] = b;
            }
            else
            {
                // A grey source has r = g = b; a colour one is converted with the ITU-R BT.601 luma weights.
                planar[p] = sourceChannels == 1 ? r : (byte)Math.Round(0.299 * r + 0.587 * g + 0.114 * b, MidpointRounding.AwayFromZero);
            }
        }
        return planar;
    }
}
