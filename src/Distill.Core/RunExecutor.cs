using System.Diagnostics;
using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Distill.Core.Training;
using Serilog;
using Serilog.Formatting.Compact;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core;

/// <summary>
/// Runs a plan end to end: data, teacher, student, the phases (teacher training, then each stage),
/// test evaluation, final models; tracked from RUNNING to FINISHED, FAILED or KILLED.
/// Bad input (data files, teacher checkpoint, model specs) is found before a run is opened, so
/// it never leaves an empty run behind.
/// </summary>
public sealed class RunExecutor(RunStore store, ILogger logger, IProgress<TrainingProgress>? progress = null)
{
    public const string RecipeArtifact = "recipe.yaml";
    public const string CheckpointArtifact = "checkpoints/last.ckpt";
    public const string TeacherArtifact = "models/teacher.ckpt";
    public const string StudentArtifact = "models/student.ckpt";
    public const string LogArtifact = "logs/run.jsonl";

    private sealed record Phase(string Name, StageOptions Stage, bool IsTeacher);

    /// <summary>Wraps the store's tracker of each run, e.g. to send the run to an MLflow server as well.</summary>
    public Func<ITracker, ITracker>? TrackerDecorator { get; init; }

    /// <summary>The command that resumes a run, shown when it is interrupted or the disk fills up; the CLI adds the
    /// --store a later command needs to find the run.</summary>
    public Func<string, string> ResumeCommand { get; init; } = DefaultResumeCommand;

    public static string DefaultResumeCommand(string runId) => $"distill train --resume {runId}";

    public string Train(RunPlan plan, CancellationToken cancel) => Execute(plan, resumeRunId: null, cancel);

    public string Resume(RunPlan plan, string runId, CancellationToken cancel) => Execute(plan, runId, cancel);

    private string Execute(RunPlan plan, string? resumeRunId, CancellationToken cancel)
    {
        // A device this machine does not have is bad input, found before anything is read or created.
        var device = ComputeDevice.Resolve(plan.Device);
        string? checkpointPath = null;
        if (resumeRunId is not null)
        {
            var run = store.GetRun(resumeRunId);
            if (run.Status == RunStatus.Finished)
                throw new InvalidInputException($"run {run.Id} already finished; nothing to resume");
            // The file on disk, not the artifact record: the checkpoint is renamed into place before it is
            // registered, so a run killed between the two has a complete checkpoint that is not yet listed.
            checkpointPath = store.ArtifactFile(run.Id, CheckpointArtifact);
            if (!File.Exists(checkpointPath))
                throw new InvalidInputException($"run {run.Id} has no checkpoint to resume from (it stopped before its first epoch ended); start it again");
            resumeRunId = run.Id;
        }
        if (plan.Data.Format == DataFormat.Text)
            return new Text.LmRunner(store, logger, progress, TrackerDecorator, ResumeCommand).Execute(plan, resumeRunId, checkpointPath, cancel);

        using var data = DatasetLoader.Load(plan.Data, plan.BaseDirectory, plan.Seed, cancel);
        manual_seed(plan.Seed);
        using var teacher = plan.Teacher is null ? null : Build(plan.Teacher.Model, data, device, cancel);
        if (plan.Teacher?.Checkpoint is { } teacherCheckpoint)
            ModelCheckpoint.LoadInto(ResolvePath(plan, teacherCheckpoint), teacher!, "recipe's teacher");
        using var onnxTeacher = plan.OnnxTeacher is { } onnx
            ? OnnxTeacher.Load(onnx, ResolvePath(plan, onnx.Path), data.InputShape, data.NumClasses, data.Normalization, device)
            : null;
        ITeacher? distillFrom = (ITeacher?)teacher ?? onnxTeacher;
        manual_seed(plan.Seed + 1);
        using var student = Build(plan.Student.Model, data, device, cancel);
        using var pruning = new StudentPruning(student);
        using var quantization = new StudentQuantization();
        if (plan.Student.Checkpoint is { } studentCheckpoint)
        {
            var path = ResolvePath(plan, studentCheckpoint);
            pruning.LoadStudentCheckpoint(path);
            quantization.Restore(path, CheckpointFile.Read(path).Sections, student);
        }
        StudentPruning.Validate(plan.Stages, student);
        StudentQuantization.Validate(plan.Stages, student, quantization.Quantized is not null);
        var phases = Phases(plan);

        TrainingCheckpointHeader? resumeHeader = null;
        Dictionary<string, byte[]>? resumeSections = null;
        if (checkpointPath is not null)
        {
            (resumeHeader, resumeSections) = TrainingCheckpoint.Read(checkpointPath);
            if (resumeHeader.DataFingerprint != data.Fingerprint)
                throw new InvalidInputException($"run {resumeRunId}: the data has changed since the run started (fingerprint {data.Fingerprint[..12]} ≠ {resumeHeader.DataFingerprint[..12]})");
            if (resumeHeader.PhaseIndex >= phases.Count)
                throw new InvalidInputException($"{checkpointPath}: checkpoint is at phase {resumeHeader.PhaseIndex}, but the recipe has {phases.Count} phases");
            if (resumeHeader.Models.TryGetValue("student", out var saved) && !saved.SameArchitecture(ModelDescriptor.Of(student, null)))
                pruning.Replace(ModelZoo.Build(saved.Spec, saved.InputShape, saved.NumClasses, cancel).to(device)); // shrunk by an earlier stage
            RestoreModel(checkpointPath, resumeSections, "student", pruning.Student);
            pruning.RestoreMasks(checkpointPath, resumeSections);
            quantization.Restore(checkpointPath, resumeSections, pruning.Student);
            if (teacher is not null)
                RestoreModel(checkpointPath, resumeSections, "teacher", teacher);
        }

        var storeTracker = resumeRunId is null
            ? store.StartRun(plan.Tracking.Experiment, plan.Name)
            : store.ResumeRun(resumeRunId);
        using var tracker = TrackerDecorator is null ? storeTracker : TrackerDecorator(storeTracker);
        var logPath = Path.Combine(tracker.ArtifactDirectory, LogArtifact);
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        using var runLog = new LoggerConfiguration()
            .MinimumLevel.Debug()
            .WriteTo.Logger(logger)
            .WriteTo.File(new CompactJsonFormatter(), logPath)
            .CreateLogger();
        tracker.RegisterArtifact(LogArtifact);

        try
        {
            if (resumeRunId is null)
                RecordRunStart(plan, data, tracker, teacher, pruning.Student, onnxTeacher);
            else
                LogResume(runLog, tracker.RunId, resumeHeader!, TrainingCheckpoint.PrepareResume(store, tracker, resumeHeader!));

            var wall = resumeHeader?.WallSeconds ?? [];
            int studentEpochs = RunPhases(plan, data, teacher, distillFrom, pruning, quantization, phases, tracker, runLog, resumeHeader, resumeSections, wall, cancel);
            if (onnxTeacher is not null)
                RecordOnnxTeacher(data, onnxTeacher, tracker, runLog, cancel);
            Finish(data, teacher, pruning, quantization, studentEpochs, tracker, runLog, wall, cancel);
            RunExports(plan, data, pruning, quantization, tracker, runLog, cancel);
            WriteCurves(tracker, runLog);
            tracker.End(RunStatus.Finished);
            runLog.Information("Run {RunId} finished", tracker.RunId);
            return tracker.RunId;
        }
        catch (OperationCanceledException)
        {
            runLog.Warning("Run {RunId} interrupted; resume it with: {ResumeCommand}", tracker.RunId, ResumeCommand(tracker.RunId));
            tracker.End(RunStatus.Killed, "interrupted by the user (Ctrl-C or SIGTERM)");
            throw;
        }
        catch (Exception e)
        {
            LogFailure(runLog, tracker.RunId, e, ResumeCommand);
            tracker.End(RunStatus.Failed, e.Message);
            throw;
        }
    }

    internal static void LogResume(ILogger log, string runId, TrainingCheckpointHeader checkpoint, long droppedPoints) =>
        log.Information("Resuming run {RunId} from {Checkpoint} (phase {Phase}, {Epochs} epochs done; {Dropped} metric points logged after it dropped, its epochs run again)",
            runId, CheckpointArtifact, checkpoint.PhaseName, checkpoint.Phase.EpochsCompleted, droppedPoints);

    /// <summary>A full disk is an expected failure whose message names the file: no stack trace, and how to go on.</summary>
    internal static void LogFailure(ILogger log, string runId, Exception e, Func<string, string> resumeCommand)
    {
        if (!DiskFull.Is(e))
        {
            log.Error(e, "Run {RunId} failed: {Message}", runId, e.Message);
            return;
        }
        log.Error("Run {RunId} failed: {Message}", runId, e.Message);
        log.Information("Free some space; then {ResumeCommand} continues the run from its last checkpoint, if it has one", resumeCommand(runId));
    }

    private static List<Phase> Phases(RunPlan plan)
    {
        var phases = new List<Phase>();
        if (plan.Teacher?.Train is { } teacherStage)
            phases.Add(new Phase(teacherStage.Name, teacherStage, IsTeacher: true));
        phases.AddRange(plan.Stages.Select(s => new Phase(s.Name, s, IsTeacher: false)));
        return phases;
    }

    /// <returns>Epochs the student trained in all (its last metric step).</returns>
    private int RunPhases(RunPlan plan, DataSplits data, ZooModel? teacher, ITeacher? distillFrom, StudentPruning pruning, StudentQuantization quantization, List<Phase> phases,
        ITracker tracker, ILogger log, TrainingCheckpointHeader? resume, Dictionary<string, byte[]>? sections,
        Dictionary<string, double> wall, CancellationToken cancel)
    {
        var checkpointPath = Path.Combine(tracker.ArtifactDirectory, CheckpointArtifact);
        int startPhase = resume?.PhaseIndex ?? 0;
        var offsets = new Dictionary<bool, (long Steps, int Epochs)>
        {
            [true] = (0, 0),
            [false] = (0, 0),
        };
        if (resume is not null)
            offsets[phases[startPhase].IsTeacher] = (resume.Phase.StepOffset, resume.Phase.EpochOffset);

        for (int p = startPhase; p < phases.Count; p++)
        {
            var phase = phases[p];
            var model = phase.IsTeacher ? teacher! : pruning.Student;
            var (stepOffset, epochOffset) = offsets[phase.IsTeacher];
            var state = p == startPhase && resume is not null
                ? resume.Phase
                : new PhaseState { StepOffset = stepOffset, EpochOffset = epochOffset };

            if (!phase.IsTeacher && phase.Stage.Quantize is not null && quantization.Quantized is null)
            {
                quantization.Start(phase.Stage, model, data.Train, StageTrainer.EpochSeed(plan.Seed, p, -1), cancel);
                log.Information("Stage {Stage}: {What} ({Weights} weights, {Activations} activations)", phase.Name,
                    phase.Stage.Epochs == 0 ? "post-training quantisation" : "quantisation-aware training",
                    phase.Stage.Quantize.Config.Weights, phase.Stage.Quantize.Config.Activations);
            }
            var quantized = phase.IsTeacher ? null : quantization.Quantized;
            if (phase.Stage.Epochs == 0)
            {
                state = EndCalibrationStage(p, phase, state, data, teacher, pruning, quantization, tracker, log, checkpointPath, wall, cancel);
                offsets[phase.IsTeacher] = (state.StepOffset, state.EpochOffset);
                continue;
            }

            manual_seed(StageTrainer.EpochSeed(plan.Seed, p, -1));
            // The loss holds the hint adapter: it trains beside the model, on its device.
            using var loss = new DistillationLoss(phase.IsTeacher ? new LossOptions { LabelSmoothing = phase.Stage.Loss.LabelSmoothing } : phase.Stage.Loss,
                model, phase.IsTeacher ? null : distillFrom).to(ComputeDevice.Of(model));
            var trained = quantized is null ? (nn.Module)model : quantized;
            using var optimizer = OptimizerFactory.Create(phase.Stage.Optimizer, trained.parameters().Concat(loss.parameters()));
            if (p == startPhase && sections is not null && !state.Finished)
            {
                var path = Path.Combine(tracker.ArtifactDirectory, CheckpointArtifact);
                ModelCheckpoint.LoadWeights(path, loss, sections[TrainingCheckpoint.LossSection]);
                TrainingCheckpoint.LoadOptimizer(path, optimizer, sections[TrainingCheckpoint.OptimizerSection]);
            }

            long stepsPerEpoch = StageTrainer.StepsPerEpoch(data.Train.Count, phase.Stage.BatchSize);
            if (!state.Finished)
            {
                log.Information("Stage {Stage}: {Epochs} epochs of {Steps} steps, {Model} ({Params:N0} parameters)",
                    phase.Name, phase.Stage.Epochs, stepsPerEpoch, phase.IsTeacher ? "teacher" : "student", model.ParameterCount);
                tracker.SetTag($"stage.{phase.Name}.status", "running");
                var clock = Stopwatch.StartNew();
                double wallBefore = wall.GetValueOrDefault(WallKey(phase));
                using var phaseRun = PhaseRuns.Open(store, tracker, phase.Name, p, phase.IsTeacher,
                    p - (phases[0].IsTeacher ? 1 : 0), plan.Params);
                var trainer = new StageTrainer(data, plan.Seed, phaseRun, progress);
                var phaseState = state;
                state = PhaseRuns.Track(phaseRun, () => trainer.Run(new PhaseSetup(phase.Name, p, phase.Stage, model, phase.IsTeacher ? null : distillFrom, loss,
                        phase.IsTeacher ? "teacher/" : "", phase.IsTeacher ? null : [.. pruning.Hooks(phase.Stage, stepsPerEpoch), .. quantization.Hooks()],
                        quantized),
                    optimizer, phaseState,
                    afterEpoch: s =>
                    {
                        wall[WallKey(phase)] = wallBefore + clock.Elapsed.TotalSeconds;
                        SaveCheckpoint(checkpointPath, phaseRun, p, phase, s, data, teacher, pruning, quantization, loss, optimizer, wall);
                        tracker.RegisterArtifact(CheckpointArtifact);
                    },
                    cancel));
                tracker.SetTag($"stage.{phase.Name}.status", "done");
                tracker.SetTag($"stage.{phase.Name}.epochs", state.EpochsCompleted.ToString(CultureInfo.InvariantCulture));
            }
            if (!phase.IsTeacher && phase.Stage.Prune is { } prune)
                EndPruneStage(phase, prune, pruning, tracker, log, state.EpochOffset + state.EpochsCompleted);
            offsets[phase.IsTeacher] = (state.StepOffset + state.EpochsCompleted * stepsPerEpoch, state.EpochOffset + state.EpochsCompleted);
        }
        return offsets[false].Epochs;
    }

    /// <summary>Records the stage's per-layer sparsity table and, when asked, shrinks the student (its new
    /// student/params at the stage's last epoch, <paramref name="epoch"/>).</summary>
    private static void EndPruneStage(Phase phase, PruneOptions prune, StudentPruning pruning, ITracker tracker, ILogger log, int epoch)
    {
        var artifact = $"pruning/sparsity-{phase.Name}.csv";
        var path = Path.Combine(tracker.ArtifactDirectory, artifact);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, pruning.Table());
        tracker.RegisterArtifact(artifact);
        if (prune.Shrink)
        {
            var (before, after) = pruning.Shrink();
            tracker.LogMetric("student/params", after, epoch);
            log.Information("Stage {Stage}: shrunk the student from {Before:N0} to {After:N0} parameters (channels [{Channels}], hidden [{Hidden}])",
                phase.Name, before, after, string.Join(", ", pruning.Student.Spec.Channels), string.Join(", ", pruning.Student.Spec.Hidden));
        }
    }

    /// <summary>A quantize stage with no epochs: the student was calibrated when the stage started; this
    /// measures it on the validation split and checkpoints the finished stage.</summary>
    private PhaseState EndCalibrationStage(int p, Phase phase, PhaseState state, DataSplits data, ZooModel? teacher,
        StudentPruning pruning, StudentQuantization quantization, ITracker tracker, ILogger log, string checkpointPath,
        Dictionary<string, double> wall, CancellationToken cancel)
    {
        if (state.Finished)
            return state;
        var validation = Evaluator.Evaluate(quantization.Quantized!, data.Validation, cancel: cancel);
        tracker.LogMetric("quant/val_acc", validation.Accuracy, state.EpochOffset);
        log.Information("Stage {Stage}: calibrated; validation accuracy {Accuracy:P2}", phase.Name, validation.Accuracy);
        state = state with { Finished = true };
        SaveCheckpoint(checkpointPath, tracker, p, phase, state, data, teacher, pruning, quantization, null, null, wall);
        tracker.RegisterArtifact(CheckpointArtifact);
        tracker.SetTag($"stage.{phase.Name}.status", "done");
        return state;
    }

    private static string WallKey(Phase phase) => phase.IsTeacher ? "teacher" : "student";

    /// <param name="tracker">Reaches every run that has buffered metrics: the run and, during a phase, its child run.</param>
    private void SaveCheckpoint(string path, ITracker tracker, int phaseIndex, Phase phase, PhaseState state,
        DataSplits data, ZooModel? teacher, StudentPruning pruning, StudentQuantization quantization, DistillationLoss? loss,
        optim.Optimizer? optimizer, Dictionary<string, double> wall)
    {
        var student = pruning.Student;
        var models = new Dictionary<string, ModelDescriptor> { ["student"] = ModelDescriptor.Of(student, data.Normalization, data.Reading) };
        var sections = new Dictionary<string, byte[]>
        {
            [TrainingCheckpoint.ModelSection("student")] = ModelCheckpoint.ModelBytes(student),
        };
        // A calibration stage has no loss or optimiser; its checkpoint is always of a finished phase.
        if (loss is not null)
            sections[TrainingCheckpoint.LossSection] = ModelCheckpoint.ModelBytes(loss);
        if (optimizer is not null)
            sections[TrainingCheckpoint.OptimizerSection] = TrainingCheckpoint.OptimizerBytes(optimizer);
        foreach (var (name, bytes) in pruning.Sections().Concat(quantization.Sections()))
            sections[name] = bytes;
        if (teacher is not null)
        {
            models["teacher"] = ModelDescriptor.Of(teacher, data.Normalization, data.Reading);
            sections[TrainingCheckpoint.ModelSection("teacher")] = ModelCheckpoint.ModelBytes(teacher);
        }
        TrainingCheckpoint.Save(store, tracker, path, new TrainingCheckpointHeader
        {
            RunId = tracker.RunId,
            PhaseIndex = phaseIndex,
            PhaseName = phase.Name,
            Phase = state,
            DataFingerprint = data.Fingerprint,
            Models = models,
            WallSeconds = new Dictionary<string, double>(wall),
        }, sections);
    }

    private static void RestoreModel(string path, Dictionary<string, byte[]> sections, string role, ZooModel model)
    {
        if (!sections.TryGetValue(TrainingCheckpoint.ModelSection(role), out var bytes))
            throw new InvalidInputException($"{path}: checkpoint has no {role} weights");
        ModelCheckpoint.LoadWeights(path, model, bytes);
    }

    private static void RecordRunStart(RunPlan plan, DataSplits data, ITracker tracker, ZooModel? teacher, ZooModel student, OnnxTeacher? onnxTeacher)
    {
        if (onnxTeacher is not null)
        {
            tracker.SetTag("teacher.onnx", onnxTeacher.Path);
            tracker.SetTag("teacher.onnx.sha256", DataFile.Sha256Hex(onnxTeacher.Path));
        }
        var recipePath = Path.Combine(tracker.ArtifactDirectory, RecipeArtifact);
        File.WriteAllText(recipePath, plan.ResolvedRecipe);
        tracker.RegisterArtifact(RecipeArtifact);
        tracker.LogParams(plan.Params);
        tracker.SetTag("distill.version", VersionInfo.Distill);
        tracker.SetTag("torch.version", VersionInfo.Torch);
        tracker.SetTag("dotnet.version", Environment.Version.ToString());
        tracker.SetTag("host", Environment.MachineName);
        tracker.SetTag("seed", plan.Seed.ToString(CultureInfo.InvariantCulture));
        tracker.SetTag("data.fingerprint", data.Fingerprint);
        tracker.SetTag("data.sources", string.Join(";", data.SourceFiles));
        tracker.SetTag("data.sizes", $"train={data.Train.Count} validation={data.Validation.Count} test={data.Test.Count}");
        if (data.Normalization is { } n)
            tracker.SetTag("data.normalization", $"mean=[{Join(n.Mean)}] std=[{Join(n.Std)}]");
        if (plan.Description is { Length: > 0 } description)
            tracker.SetTag("description", description);
        if (teacher is not null)
            tracker.LogMetric("teacher/params", teacher.ParameterCount, 0);
        tracker.LogMetric("student/params", student.ParameterCount, 0);
    }

    private static void Finish(DataSplits data, ZooModel? teacher, StudentPruning pruning, StudentQuantization quantization,
        int studentEpochs, ITracker tracker, ILogger log, Dictionary<string, double> wall, CancellationToken cancel)
    {
        if (teacher is not null)
            RecordFinalModel(data, teacher, "teacher", TeacherArtifact, tracker, log, wall, cancel);
        var sections = pruning.Sections();
        foreach (var (name, bytes) in quantization.Sections())
            sections[name] = bytes;
        RecordFinalModel(data, pruning.Student, "student", StudentArtifact, tracker, log, wall, cancel, sections, quantization.Quantized,
            pruned: pruning.IsPruned);
        if (pruning.IsPruned)
            RecordFinalSparsity(pruning, studentEpochs, tracker, log);
    }

    /// <summary>Final sparsity metrics, logged at the student's last epoch so that they are the latest values of the
    /// per-epoch curves; after a shrink also the dense count the student had before it.</summary>
    private static void RecordFinalSparsity(StudentPruning pruning, int studentEpochs, ITracker tracker, ILogger log)
    {
        var path = Path.Combine(tracker.ArtifactDirectory, StudentPruning.TableArtifact);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, pruning.Table());
        tracker.RegisterArtifact(StudentPruning.TableArtifact);
        var metrics = SparsityReport.Metrics(pruning.Student, pruning.Masks);
        metrics.TryAdd(SparsityReport.NonZeroMetric, SparsityReport.NonZeroParameters(pruning.Student));
        foreach (var (key, value) in metrics)
            tracker.LogMetric(key, value, studentEpochs);
        if (pruning.ShrunkFrom is { } before)
        {
            tracker.LogMetric(SparsityReport.BeforeShrinkMetric, before, studentEpochs);
            log.Information("Student shrunk: {After:N0} of {Before:N0} parameters kept (its pruned channels removed); {Zeros}",
                pruning.Student.ParameterCount, before,
                metrics.TryGetValue(SparsityReport.SparsityMetric, out var left) && left > 0
                    ? string.Format(CultureInfo.InvariantCulture, "{0:P2} of its pruned layers' remaining weights are zero", left)
                    : "no zeros left in its pruned layers");
        }
        else if (metrics.TryGetValue(SparsityReport.SparsityMetric, out var sparsity))
            log.Information("Student sparsity {Sparsity:P2} of its pruned layers: {NonZero:N0} of {Params:N0} parameters non-zero",
                sparsity, metrics[SparsityReport.NonZeroMetric], pruning.Student.ParameterCount);
    }

    /// <summary>An ONNX teacher's test metrics, measured through ONNX Runtime; its file stays where it is (no copy in the run).</summary>
    private static void RecordOnnxTeacher(DataSplits data, OnnxTeacher teacher, ITracker tracker, ILogger log, CancellationToken cancel)
    {
        var test = teacher.Evaluate(data.Test, cancel);
        tracker.LogMetric("teacher/test_acc", test.Accuracy, 0);
        tracker.LogMetric("teacher/test_loss", test.Loss, 0);
        tracker.LogMetric("teacher/size_bytes", new FileInfo(teacher.Path).Length, 0);
        log.Information("Teacher ({Teacher}, ONNX Runtime): test accuracy {Accuracy:P2}, test loss {Loss:F4}",
            teacher.Path, test.Accuracy, test.Loss);
    }

    /// <summary>Saves a final model and logs its test metrics. A quantised student's test_acc is that of its
    /// fake-quant view (what an integer runtime computes); float_test_acc is the same weights in float.</summary>
    private static void RecordFinalModel(DataSplits data, ZooModel model, string role, string artifact, ITracker tracker,
        ILogger log, Dictionary<string, double> wall, CancellationToken cancel, IReadOnlyDictionary<string, byte[]>? extraSections = null,
        QuantizedZooModel? quantized = null, bool pruned = false)
    {
        var test = quantized is null ? Evaluator.Evaluate(model, data.Test, cancel: cancel) : Evaluator.Evaluate(quantized, data.Test, cancel: cancel);
        if (quantized is not null)
        {
            var floatTest = Evaluator.Evaluate(model, data.Test, cancel: cancel);
            tracker.LogMetric($"{role}/float_test_acc", floatTest.Accuracy, 0);
            log.Information("{Role}: float test accuracy {Accuracy:P2}; quantised: {Quantized:P2}", role, floatTest.Accuracy, test.Accuracy);
        }
        var path = Path.Combine(tracker.ArtifactDirectory, artifact);
        ModelCheckpoint.Save(path, model, data.Normalization, role, tracker.RunId, extraSections, data.Reading);
        tracker.RegisterArtifact(artifact);
        tracker.LogMetric($"{role}/test_acc", test.Accuracy, 0);
        tracker.LogMetric($"{role}/test_loss", test.Loss, 0);
        // {role}/params was logged when the run started. A pruned student's non-zero count is logged per epoch and
        // at its last epoch by RecordFinalSparsity (a point at step 0 would sit before the curve it ends).
        long nonZero = SparsityReport.NonZeroParameters(model);
        if (!pruned)
            tracker.LogMetric(SparsityReport.NonZeroKey(role), nonZero, 0);
        tracker.LogMetric($"{role}/size_bytes", new FileInfo(path).Length, 0);
        if (wall.TryGetValue(role, out var seconds))
            tracker.LogMetric($"{role}/wall_seconds", seconds, 0);
        log.Information("{Role}: test accuracy {Accuracy:P2}, test loss {Loss:F4}, {Params:N0} parameters ({NonZero:N0} non-zero)",
            role, test.Accuracy, test.Loss, model.ParameterCount, nonZero);
    }

    /// <summary>Exports the final student to each target of the recipe, into the run. Exports run on the CPU, where
    /// the target runtimes run: the student is moved there first (its training is over).</summary>
    private static void RunExports(RunPlan plan, DataSplits data, StudentPruning pruning, StudentQuantization quantization, ITracker tracker, ILogger log,
        CancellationToken cancel)
    {
        if (plan.Exports.Count == 0)
            return;
        pruning.Student.to(CPU);
        quantization.Quantized?.to(CPU);
        foreach (var profile in plan.Exports)
        {
            log.Information("Export {Target}: calibrating, writing and verifying the file in its runtime", profile.Name);
            var report = ExportRecorder.ExportInto(tracker, pruning.Student, quantization.Quantized, profile, data, StudentArtifact, seed: plan.Seed,
                cancel: cancel, log: log);
            log.Information("Export {Target}: {Size:N0} bytes, test accuracy {Accuracy:P2} (95 % interval {Low:P1} to {High:P1}, {Samples:N0} of {Available:N0} test samples) " +
                "in {Runtime}, {Latency:F3} ms at batch 1; verification {Verification}",
                profile.Name, report.SizeBytes, report.TestAccuracy, report.Test.Low, report.Test.High, report.Test.Samples, report.Test.Available,
                report.Verification.Runtime, report.LatencyBatch1.MedianMs, VerificationText.Describe(report.Verification));
        }
    }

    /// <summary>Saves the loss/accuracy curves as an artifact; a plot that cannot be drawn is logged, not fatal.</summary>
    private void WriteCurves(ITracker tracker, ILogger log)
    {
        try
        {
            var path = Path.Combine(tracker.ArtifactDirectory, TrainingCurves.Artifact);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (TrainingCurves.Write(store, tracker.RunId, path))
                tracker.RegisterArtifact(TrainingCurves.Artifact);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.Warning(e, "Could not draw the training curves: {Message}", e.Message);
        }
    }

    /// <summary>A zoo model built from its spec (under the caller's seed, in CPU memory, so that every device starts from
    /// the same weights) and moved to <paramref name="device"/>.</summary>
    private static ZooModel Build(ModelSpec spec, DataSplits data, Device device, CancellationToken cancel) =>
        ModelZoo.Build(spec, data.InputShape, data.NumClasses, cancel).to(device);

    private static string ResolvePath(RunPlan plan, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(plan.BaseDirectory, path));

    private static string Join(double[] values) => string.Join(", ", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)));
}
