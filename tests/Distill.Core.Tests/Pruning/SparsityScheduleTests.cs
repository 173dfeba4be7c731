using Distill.Core.Pruning;

namespace Distill.Core.Tests.Pruning;

public class SparsityScheduleTests
{
    [Theory]
    // s_t = 0.8 + (0 − 0.8)(1 − t/100)^3
    [InlineData(0, 0.0)]
    [InlineData(25, 0.4625)]    // 0.8 − 0.8 · 0.75³ = 0.8 − 0.3375
    [InlineData(50, 0.7)]       // 0.8 − 0.8 · 0.125
    [InlineData(75, 0.7875)]    // 0.8 − 0.8 · 0.015625
    [InlineData(100, 0.8)]
    [InlineData(150, 0.8)]
    public void CubicScheduleFromZeroToEightyPercent(long step, double expected) =>
        Assert.Equal(expected, SparsitySchedule.Cubic(0.0, 0.8, step, 0, 100), 12);

    [Theory]
    // Shifted window [10, 110] from s_i = 0.5 to s_f = 0.9: s_60 = 0.9 − 0.4 · 0.5³ = 0.85.
    [InlineData(5, 0.5)]
    [InlineData(10, 0.5)]
    [InlineData(60, 0.85)]
    [InlineData(110, 0.9)]
    public void CubicScheduleWithStartAndInitialSparsity(long step, double expected) =>
        Assert.Equal(expected, SparsitySchedule.Cubic(0.5, 0.9, step, 10, 110), 12);

    [Fact]
    public void GradualUpdatesEveryKStepsBetweenStartAndEndAndHitsTheEnd()
    {
        // 10 steps per epoch, 4 epochs: start at step 10, end at step 30, update every 4 steps.
        var schedule = new SparsitySchedule(
            new PruneOptions { Schedule = PruneSchedule.Gradual, StartEpoch = 1, EndEpoch = 3, UpdateEvery = 4, Sparsity = 0.8 },
            stepsPerEpoch: 10, totalSteps: 40);
        var updates = Enumerable.Range(0, 40).Where(s => schedule.IsUpdateStep(s)).ToArray();
        Assert.Equal([10, 14, 18, 22, 26, 30], updates);
        Assert.Equal(0.0, schedule.At(10, 0, 0.8), 12);
        Assert.Equal(0.7, schedule.At(20, 0, 0.8), 12);
        Assert.Equal(0.8, schedule.At(30, 0, 0.8), 12);
    }

    [Fact]
    public void GradualWithoutEndReachesTheTargetAtTheStagesLastStep()
    {
        var schedule = new SparsitySchedule(new PruneOptions { Schedule = PruneSchedule.Gradual, UpdateEvery = 7 }, 10, 30);
        Assert.Equal(29, schedule.EndStep);
        Assert.True(schedule.IsUpdateStep(29));
        Assert.Equal(0.5, schedule.At(29, 0, 0.5), 12);
    }

    [Fact]
    public void OneShotUpdatesOnceAtTheStartStepToTheFinalSparsity()
    {
        var schedule = new SparsitySchedule(new PruneOptions { StartEpoch = 0.5 }, 10, 30);
        Assert.Equal([5], Enumerable.Range(0, 30).Where(s => schedule.IsUpdateStep(s)).ToArray());
        Assert.Equal(0.5, schedule.At(5, 0, 0.5));
    }
}
