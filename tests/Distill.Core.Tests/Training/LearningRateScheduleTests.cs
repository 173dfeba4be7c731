using Distill.Core.Training;

namespace Distill.Core.Tests.Training;

public sealed class LearningRateScheduleTests
{
    [Fact]
    public void Constant_with_warmup_rises_linearly_then_holds()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Constant, WarmupEpochs = 1 }, 0.1, stepsPerEpoch: 10, epochs: 3);
        Assert.Equal(0.01, schedule.At(0), 12);
        Assert.Equal(0.05, schedule.At(4), 12);
        Assert.Equal(0.1, schedule.At(9), 12);
        Assert.Equal(0.1, schedule.At(10), 12);
        Assert.Equal(0.1, schedule.At(29), 12);
    }

    [Fact]
    public void Step_multiplies_by_gamma_every_step_epochs()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Step, StepEpochs = 2, Gamma = 0.5 }, 0.2, stepsPerEpoch: 5, epochs: 6);
        Assert.Equal(0.2, schedule.At(9), 12);    // epoch 1
        Assert.Equal(0.1, schedule.At(10), 12);   // epoch 2
        Assert.Equal(0.05, schedule.At(20), 12);  // epoch 4
    }

    [Fact]
    public void Cosine_goes_from_base_to_min_through_the_midpoint()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Cosine, MinLearningRate = 0.001 }, 0.1, stepsPerEpoch: 50, epochs: 2);
        Assert.Equal(0.1, schedule.At(0), 12);
        Assert.Equal(0.001 + (0.1 - 0.001) / 2, schedule.At(50), 12);
        Assert.Equal(0.001, schedule.At(100), 12);
        Assert.True(schedule.At(25) > schedule.At(75));
    }

    [Fact]
    public void One_cycle_starts_at_a_25th_peaks_at_base_and_ends_far_below()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.OneCycle, PctStart = 0.3 }, 0.01, stepsPerEpoch: 100, epochs: 1);
        Assert.Equal(0.01 / 25, schedule.At(0), 12);
        Assert.Equal(0.01, schedule.At(30), 12);
        Assert.True(schedule.At(15) is > 0.0004 and < 0.01);
        Assert.Equal(0.01 / 25 / 1e4, schedule.At(100), 12);
        for (int step = 1; step <= 30; step++)
            Assert.True(schedule.At(step) >= schedule.At(step - 1));
        for (int step = 31; step <= 100; step++)
            Assert.True(schedule.At(step) <= schedule.At(step - 1));
    }
}
