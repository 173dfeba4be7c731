using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Distill.Core.Training;
using Serilog;
using Serilog.Formatting.Compact;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>
/// Runs a language-model plan (data.format text, transformer-lm models) with the same guarantees as
/// <see cref="RunExecutor"/>: bad input is found before the run opens; the run and one child run per phase are
/// tracked; a checkpoint after every epoch (<see cref="RunExecutor.CheckpointArtifact"/>) lets
/// <c>--resume</c> continue; final models carry their sizes and tokenizer (<see cref="LmCheckpoint"/>); the run
/// ends FINISHED, FAILED or KILLED.
/// </summary>
public sealed class LmRunner(RunStore store, ILogger logger, IProgress<TrainingProgress>? progress, Func<ITracker, ITracker>? trackerDecorator,
    Func<string, string> resumeCommand)
{
    private sealed record Phase(string Name, StageOptions Stage, bool IsTeacher);

    /// <param name="resumeRunId">The run to continue (its <paramref name="checkpointPath"/> exists), or null for a new run.</param>
    public string Execute(RunPlan plan, string? resumeRunId, string? checkpointPath, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var device = ComputeDevice.Resolve(plan.Device);
        var textOptions = plan.Data.Text ?? throw new InvalidInputException("data: a language-model recipe needs data.format: text");
        if (plan.Student.Model.Lm is null || (plan.Teacher is not null && plan.Teacher.Model.Lm is null))
            throw new InvalidInputException("data.format text trains language models: teacher.model.arch and student.model.arch must be transformer-lm");

        var teacherCheckpoint = plan.Teacher?.Checkpoint is { } t ? ResolvePath(plan, t) : null;
        var studentCheckpoint = plan.Student.Checkpoint is { } s ? ResolvePath(plan, s) : null;
        using var onnxTeacher = plan.OnnxTeacher is { } onnx ? OnnxLmTeacher.Load(onnx, ResolvePath(plan, onnx.Path), device) : null;
        var tokenizer = SharedTokenizer(textOptions,
            onnxTeacher is null ? FromCheckpoint("teacher", teacherCheckpoint) : new TokenizerSource("ONNX teacher", onnxTeacher.Path, onnxTeacher.Tokenizer, onnxTeacher.Context),
            FromCheckpoint("student", studentCheckpoint));
        var corpusPath = ResolvePath(plan, plan.Data.TextPath ?? throw new InvalidInputException("data.path: a text corpus is needed"));
        TextData data;
        using (var full = TextData.Load(corpusPath, textOptions, tokenizer))
            data = full.Limit(plan.Data.MaxTrainWindows, plan.Data.MaxValidationWindows);
        using var _ = data;
        cancel.ThrowIfCancellationRequested();
        if (data.Validation.Count == 0)
            throw new InvalidInputException($"{corpusPath}: no validation windows; set data.validation_fraction > 0");
        string fingerprint = Fingerprint(plan, data);

        var teacherOptions = plan.Teacher is null ? null : ModelOptions(plan.Teacher.Model, data, teacherCheckpoint);
        var studentOptions = ModelOptions(plan.Student.Model, data, studentCheckpoint);
        var phases = Phases(plan);
        ValidateLosses(plan, phases, studentOptions, teacherOptions, onnxTeacher, data.Tokenizer.VocabSize);

        // Built under the seed in CPU memory, so that every device starts from the same weights, then moved.
        manual_seed(plan.Seed);
        using var teacher = teacherOptions is null ? null : new TransformerLm(teacherOptions, cancel).to(device);
        if (teacherCheckpoint is not null)
            LmCheckpoint.LoadInto(teacherCheckpoint, teacher!, "recipe's teacher");
        manual_seed(plan.Seed + 1);
        using var student = new TransformerLm(studentOptions, cancel).to(device);
        if (studentCheckpoint is not null)
            LmCheckpoint.LoadInto(studentCheckpoint, student, "recipe's student");

        TrainingCheckpointHeader? resumeHeader = null;
        Dictionary<string, byte[]>? resumeSections = null;
        if (checkpointPath is not null)
        {
            (resumeHeader, resumeSections) = TrainingCheckpoint.Read(checkpointPath);
            if (resumeHeader.DataFingerprint != fingerprint)
                throw new InvalidInputException($"run {resumeRunId}: the text data has changed since the run started (fingerprint {fingerprint[..12]} ≠ {resumeHeader.DataFingerprint[..12]})");
            if (resumeHeader.PhaseIndex >= phases.Count)
                throw new InvalidInputException($"{checkpointPath}: checkpoint is at phase {resumeHeader.PhaseIndex}, but the recipe has {phases.Count} phases");
            RestoreModel(checkpointPath, resumeSections, "student", student);
            if (teacher is not null)
                RestoreModel(checkpointPath, resumeSections, "teacher", teacher);
        }

        var storeTracker = resumeRunId is null ? store.StartRun(plan.Tracking.Experiment, plan.Name) : store.ResumeRun(resumeRunId);
        using var tracker = trackerDecorator is null ? storeTracker : trackerDecorator(storeTracker);
        var logPath = Path.Combine(tracker.ArtifactDirectory, RunExecutor.LogArtifact);
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        using var runLog = new LoggerConfiguration()
            .MinimumLevel.Debug()
            .WriteTo.Logger(logger)
            .WriteTo.File(new CompactJsonFormatter(), logPath)
            .CreateLogger();
        tracker.RegisterArtifact(RunExecutor.LogArtifact);
        try
        {
            if (resumeRunId is null)
                RecordRunStart(plan, data, fingerprint, tracker, teacher, student, onnxTeacher);
            else
                RunExecutor.LogResume(runLog, tracker.RunId, resumeHeader!, TrainingCheckpoint.PrepareResume(store, tracker, resumeHeader!));
            var wall = resumeHeader?.WallSeconds ?? [];
            var context = new RunContext(plan, data, fingerprint, teacher, onnxTeacher, student, tracker, runLog, wall);
            RunPhases(context, phases, resumeHeader, resumeSections, cancel);
            if (teacher is not null)
                RecordFinalModel(context, teacher, "teacher", RunExecutor.TeacherArtifact, cancel);
            if (onnxTeacher is not null)
                RecordOnnxTeacher(context, onnxTeacher, cancel);
            RecordFinalModel(context, student, "student", RunExecutor.StudentArtifact, cancel);
            WriteCurves(tracker, runLog);
            tracker.End(RunStatus.Finished);
            runLog.Information("Run {RunId} finished", tracker.RunId);
            return tracker.RunId;
        }
        catch (OperationCanceledException)
        {
            runLog.Warning("Run {RunId} interrupted; resume it with: {ResumeCommand}", tracker.RunId, resumeCommand(tracker.RunId));
            tracker.End(RunStatus.Killed, "interrupted by the user (Ctrl-C or SIGTERM)");
            throw;
        }
        catch (Exception e)
        {
            RunExecutor.LogFailure(runLog, tracker.RunId, e, resumeCommand);
            tracker.End(RunStatus.Failed, e.Message);
            throw;
        }
    }

    private sealed record RunContext(RunPlan Plan, TextData Data, string Fingerprint, TransformerLm? Teacher, OnnxLmTeacher? OnnxTeacher, TransformerLm Student,
        ITracker Tracker, ILogger Log, Dictionary<string, double> Wall);

    private static List<Phase> Phases(RunPlan plan)
    {
        var phases = new List<Phase>();
        if (plan.Teacher?.Train is { } teacherStage)
            phases.Add(new Phase(teacherStage.Name, teacherStage, IsTeacher: true));
        phases.AddRange(plan.Stages.Select(s => new Phase(s.Name, s, IsTeacher: false)));
        return phases;
    }

    /// <summary>A model whose tokenizer and context are fixed by its file: a checkpoint or an ONNX teacher.</summary>
    private sealed record TokenizerSource(string Role, string Path, ITokenizer Tokenizer, int Context);

    private static TokenizerSource? FromCheckpoint(string role, string? path)
    {
        if (path is null)
            return null;
        var (model, saved) = LmCheckpoint.Describe(path);
        return new TokenizerSource(role, path, saved, model.Context);
    }

    /// <summary>The tokenizer saved in the teacher's file (checkpoint or ONNX model card) or the student's checkpoint
    /// (they must agree with each other and with data.tokenizer), or null when no model is loaded from a file.</summary>
    private static ITokenizer? SharedTokenizer(TextDataOptions options, params TokenizerSource?[] sources)
    {
        ITokenizer? tokenizer = null;
        string? first = null;
        foreach (var source in sources)
        {
            if (source is null)
                continue;
            var (role, path, saved, context) = source;
            if (saved.Kind != options.Tokenizer)
                throw new InvalidInputException(
                    $"{path}: the {role} reads {saved.Kind} tokens ({saved.VocabSize}), but data.tokenizer is {options.Tokenizer}: teacher and student must share one vocabulary");
            if (tokenizer is not null && TokenizerFile.ToJson(tokenizer) != TokenizerFile.ToJson(saved))
                throw new InvalidInputException(
                    $"{path}: the {role}'s vocabulary ({saved.VocabSize} tokens) differs from that of {first} ({tokenizer.VocabSize} tokens): teacher and student must share one vocabulary");
            if (context < options.Context)
                throw new InvalidInputException(
                    $"{path}: the {role} has a context of {context} tokens, shorter than data.context ({options.Context})");
            tokenizer ??= saved;
            first ??= path;
        }
        return tokenizer;
    }

    /// <summary>The recipe's sizes with the data's vocabulary and context (a checkpoint's own context when the model is loaded).</summary>
    private static TransformerLmOptions ModelOptions(ModelSpec spec, TextData data, string? checkpoint)
    {
        int context = checkpoint is null ? data.Train.Context : LmCheckpoint.Describe(checkpoint).Model.Context;
        return spec.Lm! with { Context = context, VocabSize = data.Tokenizer.VocabSize, Dropout = spec.Dropout };
    }

    private static LmLossOptions LossOptions(StageOptions stage, bool isTeacher) => isTeacher
        ? new LmLossOptions()
        : new LmLossOptions
        {
            Kd = stage.Loss.Kd,
            Hints = stage.Loss.Hint is { } hint ? [hint, .. stage.Loss.Hints] : stage.Loss.Hints,
            Attention = stage.Loss.Attention,
        };

    /// <summary>Builds every stage's loss once, so that wrong layer names or a top-k beyond the vocabulary stop the
    /// run before it opens.</summary>
    private static void ValidateLosses(RunPlan plan, List<Phase> phases, TransformerLmOptions student, TransformerLmOptions? teacher,
        OnnxLmTeacher? onnxTeacher, int vocab)
    {
        int stageIndex = 0;
        foreach (var phase in phases.Where(p => !p.IsTeacher))
        {
            string path = $"stages[{stageIndex++}]";
            try
            {
                using var loss = NewLoss(LossOptions(phase.Stage, false), student, teacher, onnxTeacher);
            }
            catch (InvalidInputException e)
            {
                throw new InvalidInputException($"{path}.loss: {e.Message}", e);
            }
            if (phase.Stage.Loss.TeacherCacheTopK is { } k && k > vocab)
                throw new InvalidInputException($"{path}.loss.teacher_cache.top_k: {k} is more than the vocabulary ({vocab} {plan.Data.Text!.Tokenizer} tokens)");
        }
    }

    /// <summary>The loss against a TorchSharp teacher (any loss) or an ONNX teacher (logits only: KD).</summary>
    private static LmDistillationLoss NewLoss(LmLossOptions options, TransformerLmOptions model, TransformerLmOptions? teacher, OnnxLmTeacher? onnxTeacher) =>
        onnxTeacher is null ? new LmDistillationLoss(options, model, teacher) : new LmDistillationLoss(options, model, onnxTeacher.VocabSize);

    private void RunPhases(RunContext run, List<Phase> phases, TrainingCheckpointHeader? resume, Dictionary<string, byte[]>? sections,
        CancellationToken cancel)
    {
        var checkpointPath = Path.Combine(run.Tracker.ArtifactDirectory, RunExecutor.CheckpointArtifact);
        int startPhase = resume?.PhaseIndex ?? 0;
        var offsets = new Dictionary<bool, (long Steps, int Epochs)> { [true] = (0, 0), [false] = (0, 0) };
        if (resume is not null)
            offsets[phases[startPhase].IsTeacher] = (resume.Phase.StepOffset, resume.Phase.EpochOffset);

        for (int p = startPhase; p < phases.Count; p++)
        {
            var phase = phases[p];
            var model = phase.IsTeacher ? run.Teacher! : run.Student;
            var (stepOffset, epochOffset) = offsets[phase.IsTeacher];
            var state = p == startPhase && resume is not null
                ? resume.Phase
                : new PhaseState { StepOffset = stepOffset, EpochOffset = epochOffset };

            manual_seed(StageTrainer.EpochSeed(run.Plan.Seed, p, -1));
            // The loss holds the hint adapters: they train beside the model, on its device.
            using var loss = NewLoss(LossOptions(phase.Stage, phase.IsTeacher), model.Options,
                phase.IsTeacher ? null : run.Teacher?.Options, phase.IsTeacher ? null : run.OnnxTeacher).to(ComputeDevice.Of(model));
            using var optimizer = OptimizerFactory.Create(phase.Stage.Optimizer, model.parameters().Concat(loss.parameters()));
            if (p == startPhase && sections is not null && !state.Finished)
            {
                ModelCheckpoint.LoadWeights(checkpointPath, loss, sections[TrainingCheckpoint.LossSection]);
                TrainingCheckpoint.LoadOptimizer(checkpointPath, optimizer, sections[TrainingCheckpoint.OptimizerSection]);
            }

            long stepsPerEpoch = StageTrainer.StepsPerEpoch(run.Data.Train.Count, phase.Stage.BatchSize);
            if (!state.Finished)
            {
                run.Log.Information("Stage {Stage}: {Epochs} epochs of {Steps} steps, {Model} ({Params:N0} parameters){Cache}",
                    phase.Name, phase.Stage.Epochs, stepsPerEpoch, phase.IsTeacher ? "teacher" : "student", model.ParameterCount,
                    phase.Stage.Loss.TeacherCacheTopK is { } k && !phase.IsTeacher ? $", teacher top-{k} cache" : "");
                run.Tracker.SetTag($"stage.{phase.Name}.status", "running");
                var clock = Stopwatch.StartNew();
                string wallKey = phase.IsTeacher ? "teacher" : "student";
                double wallBefore = run.Wall.GetValueOrDefault(wallKey);
                using var phaseRun = PhaseRuns.Open(store, run.Tracker, phase.Name, p, phase.IsTeacher,
                    p - (phases[0].IsTeacher ? 1 : 0), run.Plan.Params);
                var trainer = new LmStageTrainer(run.Data, run.Plan.Seed, phaseRun, progress);
                var setup = new LmPhaseSetup(phase.Name, p, phase.Stage, model, phase.IsTeacher ? null : (ILmLogitSource?)run.Teacher ?? run.OnnxTeacher, loss,
                    phase.IsTeacher ? "teacher/" : "");
                var phaseState = state;
                state = PhaseRuns.Track(phaseRun, () => trainer.Run(setup, optimizer, phaseState,
                    afterEpoch: s =>
                    {
                        run.Wall[wallKey] = wallBefore + clock.Elapsed.TotalSeconds;
                        SaveCheckpoint(checkpointPath, run, phaseRun, p, phase, s, loss, optimizer);
                        run.Tracker.RegisterArtifact(RunExecutor.CheckpointArtifact);
                    },
                    cancel));
                run.Tracker.SetTag($"stage.{phase.Name}.status", "done");
                run.Tracker.SetTag($"stage.{phase.Name}.epochs", state.EpochsCompleted.ToString(CultureInfo.InvariantCulture));
            }
            offsets[phase.IsTeacher] = (state.StepOffset + state.EpochsCompleted * stepsPerEpoch, state.EpochOffset + state.EpochsCompleted);
        }
    }

    /// <param name="tracker">The phase's tracker: it reaches the run and the phase's child run, whose metrics are committed first.</param>
    private void SaveCheckpoint(string path, RunContext run, ITracker tracker, int phaseIndex, Phase phase, PhaseState state,
        LmDistillationLoss loss, optim.Optimizer optimizer)
    {
        var sections = new Dictionary<string, byte[]>
        {
            [TrainingCheckpoint.ModelSection("student")] = ModelCheckpoint.ModelBytes(run.Student),
            [TrainingCheckpoint.LossSection] = ModelCheckpoint.ModelBytes(loss),
            [TrainingCheckpoint.OptimizerSection] = TrainingCheckpoint.OptimizerBytes(optimizer),
        };
        if (run.Teacher is not null)
            sections[TrainingCheckpoint.ModelSection("teacher")] = ModelCheckpoint.ModelBytes(run.Teacher);
        TrainingCheckpoint.Save(store, tracker, path, new TrainingCheckpointHeader
        {
            RunId = run.Tracker.RunId,
            PhaseIndex = phaseIndex,
            PhaseName = phase.Name,
            Phase = state,
            DataFingerprint = run.Fingerprint,
            Models = [],
            WallSeconds = new Dictionary<string, double>(run.Wall),
        }, sections);
    }

    private static void RestoreModel(string path, Dictionary<string, byte[]> sections, string role, TransformerLm model)
    {
        if (!sections.TryGetValue(TrainingCheckpoint.ModelSection(role), out var bytes))
            throw new InvalidInputException($"{path}: checkpoint has no {role} weights");
        ModelCheckpoint.LoadWeights(path, model, bytes);
    }

    private static void RecordRunStart(RunPlan plan, TextData data, string fingerprint, ITracker tracker, TransformerLm? teacher, TransformerLm student,
        OnnxLmTeacher? onnxTeacher)
    {
        File.WriteAllText(Path.Combine(tracker.ArtifactDirectory, RunExecutor.RecipeArtifact), plan.ResolvedRecipe);
        tracker.RegisterArtifact(RunExecutor.RecipeArtifact);
        tracker.LogParams(plan.Params);
        tracker.SetTag("distill.version", VersionInfo.Distill);
        tracker.SetTag("torch.version", VersionInfo.Torch);
        tracker.SetTag("dotnet.version", Environment.Version.ToString());
        tracker.SetTag("host", Environment.MachineName);
        tracker.SetTag("seed", plan.Seed.ToString(CultureInfo.InvariantCulture));
        tracker.SetTag("data.fingerprint", fingerprint);
        tracker.SetTag("data.sources", data.Corpus.Path);
        tracker.SetTag("data.sizes", string.Create(CultureInfo.InvariantCulture,
            $"train={data.Train.Count} validation={data.Validation.Count} windows of {data.Train.Context} tokens; corpus {data.Corpus.ByteCount} bytes"));
        tracker.SetTag("data.tokenizer", $"{data.Tokenizer.Kind} ({data.Tokenizer.VocabSize} tokens)");
        if (plan.Description is { Length: > 0 } description)
            tracker.SetTag("description", description);
        if (teacher is not null)
            tracker.LogMetric("teacher/params", teacher.ParameterCount, 0);
        if (onnxTeacher is not null)
        {
            tracker.SetTag("teacher.onnx", onnxTeacher.Path);
            tracker.SetTag("teacher.onnx.sha256", DataFile.Sha256Hex(onnxTeacher.Path));
        }
        tracker.LogMetric("student/params", student.ParameterCount, 0);
    }

    /// <summary>Saves a final model with its tokenizer and logs its validation figures.</summary>
    private static void RecordFinalModel(RunContext run, TransformerLm model, string role, string artifact, CancellationToken cancel)
    {
        var batch = run.Plan.Stages[^1].BatchSize;
        var validation = LmEvaluator.Evaluate(model, run.Data.Validation, run.Data.Tokenizer, batch, cancel);
        var path = Path.Combine(run.Tracker.ArtifactDirectory, artifact);
        LmCheckpoint.Save(path, model, run.Data.Tokenizer, role, run.Tracker.RunId);
        run.Tracker.RegisterArtifact(artifact);
        run.Tracker.LogMetric($"{role}/val_cross_entropy", validation.CrossEntropy, 0);
        run.Tracker.LogMetric($"{role}/val_bpb", validation.BitsPerByte, 0);
        run.Tracker.LogMetric($"{role}/perplexity", validation.Perplexity, 0);
        run.Tracker.LogMetric($"{role}/size_bytes", new FileInfo(path).Length, 0);
        if (run.Wall.TryGetValue(role, out var seconds))
            run.Tracker.LogMetric($"{role}/wall_seconds", seconds, 0);
        run.Log.Information("{Role}: validation {Bpb:F4} bits/byte, perplexity {Perplexity:F3}, {Params:N0} parameters",
            role, validation.BitsPerByte, validation.Perplexity, model.ParameterCount);
    }

    /// <summary>An ONNX teacher's validation figures, measured through ONNX Runtime; its file stays where it is (no copy in the run).</summary>
    private static void RecordOnnxTeacher(RunContext run, OnnxLmTeacher teacher, CancellationToken cancel)
    {
        var validation = LmEvaluator.Evaluate(teacher, run.Data.Validation, run.Data.Tokenizer, run.Plan.Stages[^1].BatchSize, cancel);
        run.Tracker.LogMetric("teacher/val_cross_entropy", validation.CrossEntropy, 0);
        run.Tracker.LogMetric("teacher/val_bpb", validation.BitsPerByte, 0);
        run.Tracker.LogMetric("teacher/perplexity", validation.Perplexity, 0);
        run.Tracker.LogMetric("teacher/size_bytes", new FileInfo(teacher.Path).Length, 0);
        run.Log.Information("Teacher ({Teacher}, ONNX Runtime): validation {Bpb:F4} bits/byte, perplexity {Perplexity:F3}",
            teacher.Path, validation.BitsPerByte, validation.Perplexity);
    }

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

    /// <summary>The corpus (by content), the tokenizer and every option that decides which windows exist.</summary>
    private static string Fingerprint(RunPlan plan, TextData data)
    {
        var o = plan.Data.Text!;
        var text = new StringBuilder("distill-text v1\n");
        text.Append(CultureInfo.InvariantCulture, $"corpus sha256={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(data.Corpus.Text)))}\n");
        text.Append(CultureInfo.InvariantCulture, $"tokenizer={TokenizerFile.ToJson(data.Tokenizer)}\ncontext={o.Context}\nstride={o.Stride}\nblocks={o.Blocks}\n");
        text.Append(CultureInfo.InvariantCulture, $"validation_fraction={o.ValidationFraction:R}\nmax_train_windows={plan.Data.MaxTrainWindows}\nmax_validation_windows={plan.Data.MaxValidationWindows}\n");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static string ResolvePath(RunPlan plan, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(plan.BaseDirectory, path));
}
