namespace Distill.Core.Tracking.Analysis;

/// <summary>A rectangle in pixels, y growing downwards.</summary>
public readonly record struct LabelBox(float Left, float Top, float Width, float Height)
{
    public float Right => Left + Width;
    public float Bottom => Top + Height;

    public bool Overlaps(LabelBox other) => Left < other.Right && other.Left < Right && Top < other.Bottom && other.Top < Bottom;

    public bool Inside(LabelBox bounds) => Left >= bounds.Left && Right <= bounds.Right && Top >= bounds.Top && Bottom <= bounds.Bottom;
}

/// <summary>A label to place next to its point (in pixels), on the side it prefers.</summary>
public readonly record struct LabelRequest(float X, float Y, float Width, float Height, bool PreferLeft, bool PreferBelow);

/// <summary>
/// Places text labels next to their points so that they do not print over each other. Each label, in the order
/// given, tries the four corners around its point (the preferred one first), then the same corners moved away
/// from the point one label height at a time; the first place inside the bounds that overlaps no label placed
/// before it wins. A label with no such place keeps its preferred corner.
/// </summary>
public static class LabelLayout
{
    private const int MaxShifts = 12;

    public static IReadOnlyList<LabelBox> Place(IReadOnlyList<LabelRequest> labels, LabelBox bounds, float gap)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var placed = new List<LabelBox>();
        foreach (var label in labels)
        {
            var corners = new[]
            {
                (label.PreferLeft, label.PreferBelow), (!label.PreferLeft, label.PreferBelow),
                (label.PreferLeft, !label.PreferBelow), (!label.PreferLeft, !label.PreferBelow),
            };
            LabelBox? chosen = null;
            for (int shift = 0; shift <= MaxShifts && chosen is null; shift++)
            {
                foreach (var (left, below) in corners)
                {
                    var box = Corner(label, left, below, gap, shift * label.Height);
                    if (box.Inside(bounds) && !placed.Any(box.Overlaps))
                    {
                        chosen = box;
                        break;
                    }
                }
            }
            placed.Add(chosen ?? Corner(label, label.PreferLeft, label.PreferBelow, gap, 0));
        }
        return placed;
    }

    private static LabelBox Corner(LabelRequest label, bool left, bool below, float gap, float away)
    {
        float x = left ? label.X - gap - label.Width : label.X + gap;
        float y = below ? label.Y + gap + away : label.Y - gap - label.Height - away;
        return new LabelBox(x, y, label.Width, label.Height);
    }
}
