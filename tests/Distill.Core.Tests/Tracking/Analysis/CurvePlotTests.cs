using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Tests.Tracking.Analysis;

/// <summary>What `runs plot` and the plots/curves.png artifact draw: the x axis each metric is logged over, and where
/// each phase (child run) starts.</summary>
public sealed class CurvePlotTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A recipe run as the trainers log it: phases distil (3 epochs of 10 steps) and prune (2 epochs of 10 steps) as
    /// child runs, epochs counted from 1 and steps from 0 across phases, everything logged to the run and its phase.</summary>
    private static string RecipeRun(RunStore store)
    {
        using var run = store.StartRun("e", "recipe");
        foreach (var (phase, firstEpoch, epochs) in new[] { ("distil", 1, 3), ("prune", 4, 2) })
        {
            using var child = store.StartRun("e", phase, run.RunId);
            for (int epoch = firstEpoch; epoch < firstEpoch + epochs; epoch++)
            {
                for (int step = (epoch - 1) * 10; step < epoch * 10; step++)
                {
                    run.LogMetric(MetricSteps.StepLoss, 1.0 / (step + 1), step);
                    child.LogMetric(MetricSteps.StepLoss, 1.0 / (step + 1), step);
                }
                run.LogMetric("val/acc", 0.5 + epoch / 20.0, epoch);
                child.LogMetric("val/acc", 0.5 + epoch / 20.0, epoch);
            }
            child.End(RunStatus.Finished);
        }
        run.End(RunStatus.Finished);
        return run.RunId;
    }

    [Fact]
    public void Epoch_metrics_are_drawn_over_epochs_step_metrics_over_steps_with_each_phase_start_marked()
    {
        using var store = RunStore.Open(_folder.Path);
        var run = store.GetRun(RecipeRun(store));

        var panels = CurvePlot.RunPanels(store, [run], ["val/acc", MetricSteps.StepLoss]);
        Assert.Equal("epoch", panels[0].XLabel);
        Assert.Equal([new PhaseStart("distil", 0.5), new PhaseStart("prune", 3.5)], panels[0].Phases);
        Assert.Equal("step", panels[1].XLabel);
        Assert.Equal([new PhaseStart("distil", -0.5), new PhaseStart("prune", 29.5)], panels[1].Phases);
        Assert.Equal("step", MetricSteps.Axis("teacher/train/lr"));
        Assert.Equal("epoch", MetricSteps.Axis("teacher/train/loss"));

        // A phase run plotted alone has no phases of its own; the same run twice marks each start once.
        var distil = store.GetChildRuns(run.Id)[0];
        Assert.Empty(CurvePlot.RunPanels(store, [distil], ["val/acc"])[0].Phases);
        Assert.Equal(2, CurvePlot.RunPanels(store, [run, run], ["val/acc"])[0].Phases.Count);

        string png = Path.Combine(_folder.Path, "curves.png");
        CurvePlot.SaveRunMetrics(store, [run], ["val/acc", MetricSteps.StepLoss], png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
    }

    [Fact]
    public void The_training_curves_artifact_marks_the_start_of_each_student_stage()
    {
        using var store = RunStore.Open(_folder.Path);
        string id = RecipeRun(store);
        string png = Path.Combine(_folder.Path, "training.png");
        Assert.True(TrainingCurves.Write(store, id, png));
        Assert.True(new FileInfo(png).Length > 10_000);
        Assert.Equal([new PhaseStart("distil", 0.5), new PhaseStart("prune", 3.5)], CurvePlot.PhaseStarts(store, id, "val/acc"));
    }
}
