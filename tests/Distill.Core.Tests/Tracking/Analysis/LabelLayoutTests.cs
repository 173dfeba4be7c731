using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Tests.Tracking.Analysis;

public class LabelLayoutTests
{
    private static readonly LabelBox Bounds = new(0, 0, 1000, 300);

    [Fact]
    public void A_free_label_takes_its_preferred_corner()
    {
        var box = Assert.Single(LabelLayout.Place([new LabelRequest(500, 150, 120, 14, PreferLeft: true, PreferBelow: false)], Bounds, gap: 6));
        Assert.Equal(new LabelBox(500 - 6 - 120, 150 - 6 - 14, 120, 14), box);
    }

    [Fact]
    public void Labels_of_points_at_nearly_one_place_do_not_overlap_and_stay_inside()
    {
        // Three teachers of three runs: sizes a few bytes apart, the same accuracy, labels 160 x 14 pixels.
        var requests = Enumerable.Range(0, 3).Select(i => new LabelRequest(900 + i * 0.5f, 40, 160, 14, PreferLeft: true, PreferBelow: true)).ToList();
        var boxes = LabelLayout.Place(requests, Bounds, gap: 6);
        Assert.Equal(new LabelBox(900 - 6 - 160, 40 + 6, 160, 14), boxes[0]);
        for (int i = 0; i < boxes.Count; i++)
        {
            Assert.True(boxes[i].Inside(Bounds), $"{boxes[i]}");
            for (int j = 0; j < i; j++)
                Assert.False(boxes[i].Overlaps(boxes[j]), $"{boxes[i]} overlaps {boxes[j]}");
        }
    }

    [Fact]
    public void A_label_near_an_edge_moves_to_a_corner_that_fits()
    {
        // Preferring the right side at the right edge would leave the bounds: it goes left.
        var box = Assert.Single(LabelLayout.Place([new LabelRequest(990, 150, 120, 14, PreferLeft: false, PreferBelow: false)], Bounds, gap: 6));
        Assert.Equal(990 - 6 - 120, box.Left);
    }
}
