using Distill.Cli.Output;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests;

/// <summary>The lines under the summary table of `distill train`: which parameter count a ratio uses, and what
/// pruning did to the student.</summary>
public sealed class SummaryTableTests
{
    private static RunRecord Run(Dictionary<string, double> metrics) =>
        new("r1", "default", "n", RunStatus.Finished, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null,
            new Dictionary<string, string>(), metrics, new Dictionary<string, string>(), []);

    [Fact]
    public void Ratio_of_a_pruned_student_gives_the_dense_and_the_non_zero_count()
    {
        // configs/digits/prune.yaml: the teacher MLP has 50,826 parameters (all non-zero), the student CNN 5,386 of
        // which 1,584 are non-zero at 80 % sparsity: 50,826 / 5,386 = 9.44, 50,826 / 1,584 = 32.09.
        var run = Run(new()
        {
            ["teacher/params"] = 50826,
            ["teacher/params_nonzero"] = 50826,
            ["student/params"] = 5386,
            ["student/params_nonzero"] = 1584,
            ["student/sparsity"] = 0.80012,
        });
        Assert.Equal("student vs teacher: 9.4× fewer parameters (5,386 vs 50,826), 32.1× fewer non-zero (1,584 vs 50,826)",
            SummaryTable.RatioLine(run));
        Assert.Equal("student pruned: 80.01 % of its pruned layers zero, 1,584 of 5,386 parameters non-zero", SummaryTable.PruningLine(run));
    }

    [Fact]
    public void Ratio_of_a_dense_student_names_the_count_it_uses_and_no_pruning_line()
    {
        var run = Run(new()
        {
            ["teacher/params"] = 421738,
            ["teacher/params_nonzero"] = 421738,
            ["student/params"] = 12554,
            ["student/params_nonzero"] = 12554,
        });
        Assert.Equal("student vs teacher: 33.6× fewer parameters (12,554 vs 421,738)", SummaryTable.RatioLine(run));
        Assert.Null(SummaryTable.PruningLine(run));
    }

    [Fact]
    public void A_shrunk_student_says_it_was_shrunk_not_that_it_is_zero_percent_sparse()
    {
        var run = Run(new()
        {
            ["student/params"] = 6186,
            ["student/params_nonzero"] = 6186,
            ["student/sparsity"] = 0,
            ["student/params_before_shrink"] = 12554,
        });
        Assert.Equal("student shrunk: 6,186 of 12,554 parameters (pruned channels removed)", SummaryTable.PruningLine(run));
        Assert.Null(SummaryTable.RatioLine(run));
    }
}
