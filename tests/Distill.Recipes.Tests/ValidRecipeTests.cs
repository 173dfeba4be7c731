using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Training;

namespace Distill.Recipes.Tests;

public class ValidRecipeTests
{
    [Fact]
    public void FullRecipeGivesEveryValueItStates()
    {
        var plan = Recipes.Load(Recipes.Full);

        Assert.Equal("quickstart", plan.Name);
        Assert.Equal("a test recipe", plan.Description);
        Assert.Equal(7, plan.Seed);
        Assert.Equal("cpu", plan.Device);
        Assert.Equal(Recipes.DataDir, plan.BaseDirectory);

        var data = plan.Data;
        Assert.Equal(DataFormat.Idx, data.Format);
        string fashion = Path.Combine(Recipes.DataDir, "fashion-mnist");
        Assert.Equal(new IdxFiles($"{fashion}/train-images-idx3-ubyte.gz", $"{fashion}/train-labels-idx1-ubyte.gz"), data.TrainIdx);
        Assert.Equal(new IdxFiles($"{fashion}/t10k-images-idx3-ubyte.gz", $"{fashion}/t10k-labels-idx1-ubyte.gz"), data.TestIdx);
        Assert.Equal(0.15, data.ValidationFraction);
        Assert.Equal(NormalizationMode.Fixed, data.Normalize);
        Assert.Equal(new[] { 0.286 }, data.Mean);
        Assert.Equal(new[] { 0.353 }, data.Std);
        Assert.Equal(5000, data.MaxTrain);
        Assert.Equal(1000, data.MaxTest);
        Assert.Equal(new AugmentOptions { MaxShift = 2, HorizontalFlip = false }, data.Augment);
        Assert.Null(data.TrainCsv);

        var teacher = plan.Teacher!;
        Assert.Equal(ModelArch.Cnn, teacher.Model.Arch);
        Assert.Equal([32, 64], teacher.Model.Channels);
        Assert.Equal([128], teacher.Model.Hidden);
        Assert.Equal(new[] { false, false }, teacher.Model.Depthwise);
        Assert.Equal(new[] { true, true }, teacher.Model.Pool);
        Assert.Equal(0.1, teacher.Model.Dropout);
        Assert.Null(teacher.Checkpoint);
        var teacherStage = teacher.Train!;
        Assert.Equal("teacher", teacherStage.Name);
        Assert.Equal(2, teacherStage.Epochs);
        Assert.Equal(OptimizerKind.Sgd, teacherStage.Optimizer.Kind);
        Assert.Equal(0.05, teacherStage.Optimizer.LearningRate);
        Assert.Equal(0.8, teacherStage.Optimizer.Momentum);
        Assert.True(teacherStage.Optimizer.Nesterov);
        Assert.Equal(ScheduleKind.Step, teacherStage.Schedule.Kind);
        Assert.Equal(0.5, teacherStage.Schedule.Gamma);
        Assert.Null(teacherStage.Loss.Get<Distill.Core.Distillation.KdOptions>());

        var student = plan.Student.Model;
        Assert.Equal([8, 16], student.Channels);
        Assert.Equal(new[] { false, true }, student.Depthwise);
        Assert.Equal(new[] { true, false }, student.Pool);
        Assert.Equal(5, student.KernelSize);
        Assert.False(student.BatchNorm);

        Assert.Equal(2, plan.Stages.Count);
        var distil = plan.Stages[0];
        Assert.Equal("distil", distil.Name);
        Assert.Equal(5, distil.Epochs);
        Assert.Equal(64, distil.BatchSize);
        Assert.Equal(OptimizerKind.AdamW, distil.Optimizer.Kind);
        Assert.Equal(0.002, distil.Optimizer.LearningRate);
        Assert.Equal(1e-4, distil.Optimizer.WeightDecay);
        Assert.Equal((0.8, 0.99), (distil.Optimizer.Beta1, distil.Optimizer.Beta2));
        Assert.Equal(ScheduleKind.Cosine, distil.Schedule.Kind);
        Assert.Equal(0.5, distil.Schedule.WarmupEpochs);
        Assert.Equal(1e-5, distil.Schedule.MinLearningRate);
        Assert.Equal(new Distill.Core.Distillation.KdOptions { Temperature = 2, Alpha = 0.7 }, distil.Loss.Get<Distill.Core.Distillation.KdOptions>());
        Assert.Equal([new Distill.Core.Distillation.HintOptions { StudentTap = "block1", TeacherTap = "block2", Weight = 1.0 }],
            distil.Loss.Get<Distill.Core.Distillation.HintLossOptions>()!.Hints);
        Assert.Equal(0.05, distil.Loss.Get<Distill.Core.Distillation.CrossEntropyOptions>()!.LabelSmoothing);
        Assert.Equal(5.0, distil.ClipGradNorm);
        Assert.Equal(new EarlyStopOptions { Metric = "val/loss", Patience = 2, MinDelta = 0.001 }, distil.EarlyStop);
        Assert.False(distil.CacheTeacher);

        Assert.Equal(Path.Combine(Recipes.DataDir, "runs"), plan.Tracking.Store);
        Assert.Equal("fmnist", plan.Tracking.Experiment);
    }

    [Fact]
    public void MinimalRecipeGetsTheDocumentedDefaults()
    {
        var plan = Recipes.Load(Recipes.Minimal);

        Assert.Null(plan.Description);
        Assert.Equal(42, plan.Seed);
        Assert.Equal("cpu", plan.Device);
        Assert.Null(plan.Teacher);
        Assert.Equal(DataFormat.Idx, plan.Data.Format);
        Assert.Equal(0.1, plan.Data.ValidationFraction);
        Assert.Equal(NormalizationMode.Standard, plan.Data.Normalize);
        Assert.Null(plan.Data.MaxTrain);
        Assert.Null(plan.Data.Augment);
        Assert.Null(plan.Data.Mean);

        var model = plan.Student.Model;
        Assert.Equal(ModelArch.Mlp, model.Arch);
        Assert.Equal([32], model.Hidden);
        Assert.Empty(model.Channels);
        Assert.Null(model.Depthwise);
        Assert.True(model.BatchNorm);
        Assert.Equal(0.0, model.Dropout);

        var stage = Assert.Single(plan.Stages);
        Assert.Equal("s", stage.Name);
        Assert.Equal(1, stage.Epochs);
        Assert.Equal(128, stage.BatchSize);
        Assert.Equal(new OptimizerOptions(), stage.Optimizer);
        Assert.Equal(new ScheduleOptions(), stage.Schedule);
        // Plain cross-entropy, nothing else: the loss section's defaults bind to the one term that is always on.
        Assert.Equal([new Distill.Core.Distillation.CrossEntropyOptions { LabelSmoothing = 0.0 }], stage.Loss.Terms);
        Assert.Null(stage.ClipGradNorm);
        Assert.Null(stage.EarlyStop);
        Assert.True(stage.CacheTeacher);

        Assert.Null(plan.Tracking.Store);
        Assert.Equal("default", plan.Tracking.Experiment);
    }

    [Fact]
    public void CsvRecipeWithCheckpointTeacherBinds()
    {
        string dir = Directory.CreateTempSubdirectory("distill-recipe-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "digits.csv"), "a,b,label\n1,2,0\n");
            File.WriteAllBytes(Path.Combine(dir, "teacher.ckpt"), [1, 2, 3]);
            string yaml = """
                name: digits
                data:
                  format: csv
                  train_csv: digits.csv
                  label_column: label
                  image_shape: [1, 8, 8]
                  scale: 16
                  normalize: none
                teacher:
                  model: { arch: mlp, hidden: [256, 128] }
                  checkpoint: teacher.ckpt
                student:
                  model: { arch: mlp, hidden: [32] }
                stages:
                  - name: kd
                    optimizer: { lr: 1e-3 }
                    loss: { kd: {} }
                """;
            var plan = RecipeLoader.LoadText(yaml, "digits.yaml", dir);

            Assert.Equal(DataFormat.Csv, plan.Data.Format);
            Assert.Equal(Path.Combine(dir, "digits.csv"), plan.Data.TrainCsv);
            Assert.Null(plan.Data.TestCsv);
            Assert.Null(plan.Data.TrainIdx);
            Assert.Equal("label", plan.Data.LabelColumn);
            Assert.True(plan.Data.CsvHasHeader);
            Assert.Equal(new[] { 1L, 8L, 8L }, plan.Data.ImageShape);
            Assert.Equal(16.0, plan.Data.CsvScale);
            Assert.Equal(0.2, plan.Data.TestFraction);
            Assert.Equal(NormalizationMode.None, plan.Data.Normalize);
            Assert.Equal(Path.Combine(dir, "teacher.ckpt"), plan.Teacher!.Checkpoint);
            Assert.Null(plan.Teacher.Train);
            Assert.Equal(0.001, plan.Stages[0].Optimizer.LearningRate);
            Assert.Equal(new Distill.Core.Distillation.KdOptions(), plan.Stages[0].Loss.Get<Distill.Core.Distillation.KdOptions>());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void LoadReadsAFileAndResolvesPathsAgainstItsFolder()
    {
        string dir = Directory.CreateTempSubdirectory("distill-recipe-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "data"));
            foreach (string name in new[] { "tr-img", "tr-lbl", "te-img", "te-lbl" })
            {
                File.WriteAllBytes(Path.Combine(dir, "data", name), [0]);
            }
            Directory.CreateDirectory(Path.Combine(dir, "configs"));
            string path = Path.Combine(dir, "configs", "r.yaml");
            File.WriteAllText(path, """
                name: fromfile
                data:
                  train: { images: ../data/tr-img, labels: ../data/tr-lbl }
                  test: { images: ../data/te-img, labels: ../data/te-lbl }
                student: { model: { arch: mlp } }
                stages: [ { name: a } ]
                """);

            var plan = RecipeLoader.Load(path);

            Assert.Equal(Path.Combine(dir, "configs"), plan.BaseDirectory);
            Assert.Equal(Path.Combine(dir, "data", "tr-img"), plan.Data.TrainIdx!.Images);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void MissingRecipeFileIsInvalidInputNamingTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), "distill-no-such-recipe.yaml");
        var e = Assert.Throws<Distill.Core.InvalidInputException>(() => RecipeLoader.Load(path));
        Assert.IsNotType<RecipeException>(e);
        Assert.Equal($"{path}: recipe file not found", e.Message);
    }
}
