using ScottPlot;
using SkiaSharp;

namespace Distill.Core.Tracking.Analysis;

/// <summary>Renders ScottPlot panels stacked top to bottom into one PNG, written atomically (temp file, then rename).</summary>
internal static class PlotImage
{
    public const int Width = 1000;
    public const int PanelHeight = 450;

    public static void SavePng(IReadOnlyList<Plot> panels, string path)
    {
        ArgumentOutOfRangeException.ThrowIfZero(panels.Count);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder))
            throw new InvalidInputException($"{full}: the folder {folder} does not exist");

        using var surface = SKSurface.Create(new SKImageInfo(Width, PanelHeight * panels.Count));
        surface.Canvas.Clear(SKColors.White);
        for (int i = 0; i < panels.Count; i++)
        {
            // A plot clears its canvas before drawing: clip it to its own panel.
            surface.Canvas.Save();
            surface.Canvas.ClipRect(new SKRect(0, PanelHeight * i, Width, PanelHeight * (i + 1)));
            panels[i].Render(surface.Canvas, new PixelRect(0, Width, PanelHeight * (i + 1), PanelHeight * i));
            surface.Canvas.Restore();
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);

        AtomicFile.Write(full, png.SaveTo);
    }

    /// <summary>A panel with the title, axis labels and a legend below the axes, outside the data area, so that it
    /// never covers a curve.</summary>
    public static Plot Panel(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    /// <summary>Tick labels as percentages (as the tables print fractions) when the axis shows a fraction metric.</summary>
    public static void PercentTicks(IAxis axis, string metric)
    {
        if (MetricFormat.IsFraction(metric))
            axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = MetricFormat.Percent };
    }
}
