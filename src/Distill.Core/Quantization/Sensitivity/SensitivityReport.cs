using System.Globalization;
using System.Text;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Quantization.Sensitivity;

/// <summary>One layer quantised alone at one precision, the rest of the model in float.</summary>
/// <param name="Metric">The model's metric so (test accuracy, or validation bits per byte).</param>
/// <param name="Loss">How much worse than the float model: accuracy lost, or bits per byte gained (negative: better).</param>
/// <param name="SqnrDb">Signal-to-quantisation-noise ratio of the layer's output in dB (language models: of the layer's
/// own output on calibration text; classifiers: of the model's logits); null when the output did not change.</param>
public sealed record LayerSensitivity(string Layer, string Precision, long Parameters, double Metric, double Loss, double? SqnrDb);

/// <summary>Per-layer quantisation sensitivity of a model (<c>distill analyze</c>).</summary>
/// <param name="Metric">test_accuracy or val_bpb.</param>
/// <param name="Baseline">The float model's metric.</param>
/// <param name="Method">How each row was measured, for the reader.</param>
public sealed record SensitivityReport(string Model, string Metric, double Baseline, string Method, IReadOnlyList<LayerSensitivity> Layers)
{
    public const string CsvName = "sensitivity.csv";
    public const string PlotName = "sensitivity.png";

    /// <summary>The rows from the most to the least sensitive (largest loss first).</summary>
    public IEnumerable<LayerSensitivity> ByLoss => Layers.OrderByDescending(l => l.Loss);

    public const string JsonName = "sensitivity.json";

    /// <summary>The report as indented JSON, with where the CSV and plot of <paramref name="folder"/> are.</summary>
    public string ToJson(string folder) => System.Text.Json.JsonSerializer.Serialize(new
    {
        model = Model,
        metric = Metric,
        baseline = Baseline,
        method = Method,
        layers = Layers.Select(l => new { layer = l.Layer, precision = l.Precision, parameters = l.Parameters, value = l.Metric, loss = l.Loss, sqnr_db = l.SqnrDb }),
        csv = Path.Combine(folder, CsvName),
        plot = Path.Combine(folder, PlotName),
    }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

    /// <summary>sensitivity.csv, sensitivity.json and sensitivity.png in <paramref name="folder"/> (created), each written atomically.</summary>
    public void WriteInto(string folder)
    {
        Directory.CreateDirectory(folder);
        WriteCsv(Path.Combine(folder, CsvName));
        SavePlot(Path.Combine(folder, PlotName));
        AtomicFile.WriteText(Path.Combine(folder, JsonName), ToJson(folder) + "\n");
    }

    public void WriteCsv(string path)
    {
        var csv = new StringBuilder("layer,precision,parameters,metric,value,loss,sqnr_db\n");
        foreach (var l in Layers)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{l.Layer},{l.Precision},{l.Parameters},{Metric},{l.Metric:R},{l.Loss:R},{(l.SqnrDb is { } s ? s.ToString("R", CultureInfo.InvariantCulture) : "")}\n");
        }
        AtomicFile.WriteText(path, csv.ToString());
    }

    /// <summary>A bar per layer and precision: the loss, grouped by layer in model order.</summary>
    public void SavePlot(string path)
    {
        var layers = Layers.Select(l => l.Layer).Distinct().ToList();
        var precisions = Layers.Select(l => l.Precision).Distinct().ToList();
        using var plot = PlotImage.Panel("Quantisation sensitivity: each layer quantised alone, the rest float", "",
            Metric == "val_bpb" ? "bits per byte gained" : "test accuracy lost");
        ScottPlot.Color[] colours = [ScottPlot.Colors.SteelBlue, ScottPlot.Colors.DarkOrange, ScottPlot.Colors.SeaGreen, ScottPlot.Colors.Crimson];
        double width = 0.8 / precisions.Count;
        for (int p = 0; p < precisions.Count; p++)
        {
            var bars = Layers.Where(l => l.Precision == precisions[p])
                .Select(l => new ScottPlot.Bar
                {
                    Position = layers.IndexOf(l.Layer) + (p - (precisions.Count - 1) / 2.0) * width,
                    Value = l.Loss,
                    Size = width,
                    FillColor = colours[p % colours.Length],
                })
                .ToList();
            var added = plot.Add.Bars(bars);
            added.LegendText = precisions[p];
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, layers.Count).Select(i => (double)i).ToArray(), [.. layers]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 140;
        PlotImage.SavePng([plot], path);
    }

    /// <summary>10·log10(signal / noise); null when there is no noise.</summary>
    public static double? Sqnr(double signal, double noise) => noise > 0 ? 10 * Math.Log10(signal / noise) : null;
}
