using System.Globalization;
using System.IO.Compression;
using Distill.Core.Tests.Data;

namespace Distill.Core.Tests.Models;

/// <summary>The UCI optical digits (1,797 8x8 images, 0..16 per pixel) shipped in the repository's
/// data/digits: gzip'd CSV without a header, 64 features then the label per row.</summary>
internal static class DigitsData
{
    public static (float[] Features, long[] Labels) Load()
    {
        using var file = File.OpenRead(TestData.DigitsCsv);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        var features = new List<float>();
        var labels = new List<long>();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length == 0)
            {
                continue;
            }
            var cells = line.Split(',');
            Assert.Equal(65, cells.Length);
            for (int i = 0; i < 64; i++)
            {
                features.Add(float.Parse(cells[i], CultureInfo.InvariantCulture) / 16f);
            }
            labels.Add((long)double.Parse(cells[64], CultureInfo.InvariantCulture));
        }
        return (features.ToArray(), labels.ToArray());
    }
}
