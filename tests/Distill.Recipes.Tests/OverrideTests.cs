using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

public class OverrideTests
{
    [Fact]
    public void OverridesChangeValuesBeforeValidation()
    {
        var plan = Load(Full, "stages[1].epochs=3", "seed=9", "student.model.channels=[4, 6]", "stages[0].optimizer.lr=1e-3",
            "data.validation_fraction=0.25", "tracking.experiment=sweep");

        Assert.Equal(3, plan.Stages[1].Epochs);
        Assert.Equal(9, plan.Seed);
        Assert.Equal([4, 6], plan.Student.Model.Channels);
        Assert.Equal(0.001, plan.Stages[0].Optimizer.LearningRate);
        Assert.Equal(0.25, plan.Data.ValidationFraction);
        Assert.Equal("sweep", plan.Tracking.Experiment);
        Assert.Equal("3", plan.Params["stages.1.epochs"]);
        Assert.Equal("[4, 6]", plan.Params["student.model.channels"]);
    }

    [Fact]
    public void NormalizeOverrideMakesTheFileMeanAndStdInapplicable()
    {
        // Full sets normalize: fixed with mean/std; switching to none makes those keys wrong, reported at the file.
        var errors = Errors(Full, "data.normalize=none");
        Assert.Equal(2, errors.Count);
        AssertAt(errors[0], 11, 3, "data.mean: only allowed when data.normalize is fixed");
        AssertAt(errors[1], 12, 3, "data.std: only allowed when data.normalize is fixed");
    }

    [Fact]
    public void OverrideCreatesMissingOptionalMappings()
    {
        var plan = Load(Minimal, "stages[0].clip_grad_norm=1", "stages[0].early_stop.patience=5", "data.augment.horizontal_flip=true");

        Assert.Equal(1.0, plan.Stages[0].ClipGradNorm);
        Assert.Equal(5, plan.Stages[0].EarlyStop!.Patience);
        Assert.Equal("val/acc", plan.Stages[0].EarlyStop!.Metric);
        Assert.True(plan.Data.Augment!.HorizontalFlip);
        Assert.Equal(0, plan.Data.Augment.MaxShift);
    }

    [Fact]
    public void ListItemCanBeOverridden()
    {
        var plan = Load(Full, "student.model.channels[1]=32");
        Assert.Equal([8, 32], plan.Student.Model.Channels);
    }

    [Fact]
    public void UnknownOverridePathSuggestsAndPointsAtTheSegment()
    {
        // "stages[0]." is 10 characters, so "epoch" starts at column 11.
        var error = Single(Minimal, "stages[0].epoch=3");
        AssertAt(error, 1, 11, "stages[0]: unknown key 'epoch' (did you mean 'epochs'?); allowed keys: name, epochs,", "<command line>:--set 1");
        Assert.Equal("<command line>:--set 1:1:11: " + error.Message, error.ToString());
    }

    [Fact]
    public void BadOverrideValueIsReportedAtTheValue()
    {
        // Second argument; "seed=" is 5 characters, so the value starts at column 6.
        var error = Single(Minimal, "seed=3", "seed=abc");
        AssertAt(error, 1, 6, "seed: expected an integer, got 'abc'", "<command line>:--set 2");
    }

    [Fact]
    public void OverrideOfAMissingDataFileIsReportedAtTheArgument()
    {
        var error = Single(Minimal, "data.test.labels=nothing-here.gz");
        AssertAt(error, 1, 18, $"data.test.labels: file not found: {DataDir}/nothing-here.gz", "<command line>:--set 1");
    }

    [Fact]
    public void MalformedOverridesAreErrors()
    {
        var errors = Errors(Minimal, "seed", "stages[3].epochs=2", "stages.epochs=2", "seed.value=1", "data..format=idx", "epochs=[1, 2");
        Assert.Equal(6, errors.Count);
        AssertAt(errors[0], 1, 1, "expected key=value (e.g. stages[0].epochs=3), got 'seed'", "<command line>:--set 1");
        AssertAt(errors[1], 1, 1, "stages[3]: index out of range; the recipe has 1 item(s)", "<command line>:--set 2");
        AssertAt(errors[2], 1, 8, "stages is a list; pick an item, e.g. stages[0].epochs", "<command line>:--set 3");
        AssertAt(errors[3], 1, 6, "seed is a single value and has no key 'value'", "<command line>:--set 4");
        AssertAt(errors[4], 1, 6, "'data..format' is not a key path", "<command line>:--set 5");
        AssertAt(errors[5], 1, 1, "unknown key 'epochs'; allowed keys: name, description, seed, device, data, teacher, student, stages, tracking", "<command line>:--set 6");
    }

    [Fact]
    public void OverrideThatCreatesAnIncompleteSectionIsReportedAtTheArgument()
    {
        var error = Single(Minimal, "teacher.checkpoint=fashion-mnist/t10k-labels-idx1-ubyte.gz");
        AssertAt(error, 1, 1, "teacher: missing required key 'model'", "<command line>:--set 1");
    }

    [Fact]
    public void FileErrorsAndOverrideErrorsAreAllReportedFileFirst()
    {
        var errors = Errors(Minimal + "\n    epochs: x", "stages[0].batch_size=0", "devise=cpu");
        Assert.Equal(3, errors.Count);
        AssertAt(errors[0], 9, 13, "stages[0].epochs: expected an integer, got 'x'");
        AssertAt(errors[1], 1, 22, "stages[0].batch_size: must be in [1, 65536], got 0", "<command line>:--set 1");
        AssertAt(errors[2], 1, 1, "unknown key 'devise' (did you mean 'device'?)", "<command line>:--set 2");
    }

    [Fact]
    public void OverridePathsAreCheckedEvenWhenTheFileDoesNotParse()
    {
        var errors = Errors("name: [", "stages[0].epoch=1");
        Assert.Equal(2, errors.Count);
        Assert.Equal("recipe.yaml", errors[0].File);
        Assert.StartsWith("YAML syntax error", errors[0].Message);
        AssertAt(errors[1], 1, 11, "did you mean 'epochs'?", "<command line>:--set 1");
    }

    [Fact]
    public void EmptyOverrideValueRestoresTheDefault()
    {
        var plan = Load(Full, "stages[0].clip_grad_norm=", "stages[0].epochs=");
        Assert.Null(plan.Stages[0].ClipGradNorm);
        Assert.Equal(1, plan.Stages[0].Epochs);
    }
}
