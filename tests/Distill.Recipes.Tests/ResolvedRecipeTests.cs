using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

public class ResolvedRecipeTests
{
    [Fact]
    public void ResolvedRecipeReloadsToAnEqualPlan()
    {
        var plan = Load(Full, "description='yes: no # not a comment'", "name=123");
        var again = Load(plan.ResolvedRecipe);

        Assert.Equal(plan.ResolvedRecipe, again.ResolvedRecipe);
        Assert.Equal(plan.Params, again.Params);
        Assert.Equal("123", again.Name);
        Assert.Equal("yes: no # not a comment", again.Description);
        Assert.Equal(plan.Stages, again.Stages);
        Assert.Equal(plan.Tracking, again.Tracking);
        Assert.Equal(plan.Teacher!.Train, again.Teacher!.Train);
        Assert.Equal(plan.Student.Model.Channels, again.Student.Model.Channels);
        Assert.Equal(plan.Student.Model.Depthwise, again.Student.Model.Depthwise);
        Assert.Equal(plan.Data.Mean, again.Data.Mean);
        Assert.Equal(plan.Data.TrainIdx, again.Data.TrainIdx);
    }

    [Fact]
    public void ResolvedRecipeSpellsOutDefaults()
    {
        var plan = Load(Minimal);
        string expected = $"""
            name: t
            seed: 42
            device: cpu
            data:
              format: idx
              train:
                images: {DataDir}/fashion-mnist/train-images-idx3-ubyte.gz
                labels: {DataDir}/fashion-mnist/train-labels-idx1-ubyte.gz
              test:
                images: {DataDir}/fashion-mnist/t10k-images-idx3-ubyte.gz
                labels: {DataDir}/fashion-mnist/t10k-labels-idx1-ubyte.gz
              validation_fraction: 0.1
              normalize: standard
            student:
              model:
                arch: mlp
                hidden: [32]
                batch_norm: true
                dropout: 0
            stages:
            - name: s
              epochs: 1
              batch_size: 128
              optimizer:
                name: adam
                lr: 0.001
                weight_decay: 0
                momentum: 0.9
                nesterov: false
                betas: [0.9, 0.999]
              schedule:
                name: constant
                warmup_epochs: 0
                step_epochs: 1
                gamma: 0.1
                min_lr: 0
                pct_start: 0.3
              loss:
                label_smoothing: 0
              cache_teacher: true
            tracking:
              experiment: default

            """;
        Assert.Equal(expected, plan.ResolvedRecipe);
    }

    [Fact]
    public void ParamsAreTheResolvedRecipeFlattened()
    {
        var plan = Load(Full);

        Assert.Equal("0.002", plan.Params["stages.0.optimizer.lr"]);
        Assert.Equal("0.001", plan.Params["stages.1.optimizer.lr"]);
        Assert.Equal("0.0001", plan.Params["stages.0.optimizer.weight_decay"]);
        Assert.Equal("[8, 16]", plan.Params["student.model.channels"]);
        Assert.Equal("[false, true]", plan.Params["student.model.depthwise"]);
        Assert.Equal("[true, true]", plan.Params["teacher.model.pool"]);
        Assert.Equal("0.7", plan.Params["stages.0.loss.kd.alpha"]);
        Assert.Equal("block1", plan.Params["stages.0.loss.hint.student_tap"]);
        Assert.Equal("teacher", plan.Params["teacher.train.name"]);
        Assert.Equal("7", plan.Params["seed"]);
        Assert.Equal("false", plan.Params["stages.0.cache_teacher"]);
        Assert.Equal($"{DataDir}/fashion-mnist/train-images-idx3-ubyte.gz", plan.Params["data.train.images"]);
        Assert.Equal("val/loss", plan.Params["stages.0.early_stop.metric"]);
        Assert.False(plan.Params.ContainsKey("stages.1.early_stop.metric"));
        Assert.False(plan.Params.ContainsKey("data.train_csv"));
        Assert.All(plan.Params.Keys, key => Assert.DoesNotContain(key, k => k == ' '));
        // List items by index, no brackets: MLflow refuses '[' and ']' in param names.
        Assert.All(plan.Params.Keys, key => Assert.Matches(@"^[A-Za-z0-9_.-]+$", key));
    }
}
