using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Training;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>
/// Language models (data.format text, transformer-lm models): teacher and student share one tokenizer (from the
/// recipe, or fixed by a loaded checkpoint or ONNX teacher); phases learn next-token cross-entropy and the KD, hint
/// and attention terms of <see cref="DistillationLoss"/>; final models carry their sizes and tokenizer
/// (<see cref="LmCheckpoint"/>) and are measured on the validation windows (cross-entropy, bits per byte, perplexity).
/// </summary>
internal sealed class LanguageModelFamily : IModelFamily
{
    private readonly TextData _data;
    private readonly TransformerLm? _teacher;
    private readonly OnnxLmTeacher? _onnxTeacher;
    private readonly TransformerLm _student;

    private LanguageModelFamily(TextData data, string fingerprint, TransformerLm? teacher, OnnxLmTeacher? onnxTeacher, TransformerLm student)
    {
        _data = data;
        DataFingerprint = fingerprint;
        _teacher = teacher;
        _onnxTeacher = onnxTeacher;
        _student = student;
    }

    /// <summary>Reads the corpus and builds (or loads) the models; tokenizers, contexts and every stage's loss are
    /// checked here, before a run is opened.</summary>
    public static LanguageModelFamily Load(RunPlan plan, IReadOnlyList<RunPhase> phases, Device device, CancellationToken cancel)
    {
        var textOptions = plan.Data.Text ?? throw new InvalidInputException("data: a language-model recipe needs data.format: text");
        if (plan.Student.Model.Lm is null || (plan.Teacher is not null && plan.Teacher.Model.Lm is null))
            throw new InvalidInputException("data.format text trains language models: teacher.model.arch and student.model.arch must be transformer-lm");

        var teacherCheckpoint = plan.Teacher?.Checkpoint is { } t ? plan.ResolvePath(t) : null;
        var studentCheckpoint = plan.Student.Checkpoint is { } s ? plan.ResolvePath(s) : null;
        var onnxTeacher = plan.OnnxTeacher is { } onnx ? OnnxLmTeacher.Load(onnx, plan.ResolvePath(onnx.Path), device) : null;
        TextData? data = null;
        TransformerLm? teacher = null;
        try
        {
            var tokenizer = LmTokenizers.Shared(textOptions,
                onnxTeacher is null ? LmTokenizers.FromCheckpoint("teacher", teacherCheckpoint) : new TokenizerSource("ONNX teacher", onnxTeacher.Path, onnxTeacher.Tokenizer, onnxTeacher.Context),
                LmTokenizers.FromCheckpoint("student", studentCheckpoint));
            var corpusPath = plan.ResolvePath(plan.Data.TextPath ?? throw new InvalidInputException("data.path: a text corpus is needed"));
            using (var full = TextData.Load(corpusPath, textOptions, tokenizer))
                data = full.Limit(plan.Data.MaxTrainWindows, plan.Data.MaxValidationWindows);
            cancel.ThrowIfCancellationRequested();
            if (data.Validation.Count == 0)
                throw new InvalidInputException($"{corpusPath}: no validation windows; set data.validation_fraction > 0");
            string fingerprint = Fingerprint(plan, data);

            var teacherOptions = plan.Teacher is null ? null : ModelOptions(plan.Teacher.Model, data, teacherCheckpoint);
            var studentOptions = ModelOptions(plan.Student.Model, data, studentCheckpoint);
            ValidateLosses(plan, phases, studentOptions, teacherOptions, onnxTeacher, data.Tokenizer.VocabSize);

            // Built under the seed in CPU memory, so that every device starts from the same weights, then moved.
            manual_seed(plan.Seed);
            teacher = teacherOptions is null ? null : new TransformerLm(teacherOptions, cancel).to(device);
            if (teacherCheckpoint is not null)
                LmCheckpoint.LoadInto(teacherCheckpoint, teacher!, "recipe's teacher");
            manual_seed(plan.Seed + 1);
            var student = new TransformerLm(studentOptions, cancel).to(device);
            try
            {
                if (studentCheckpoint is not null)
                    LmCheckpoint.LoadInto(studentCheckpoint, student, "recipe's student");
                return new LanguageModelFamily(data, fingerprint, teacher, onnxTeacher, student);
            }
            catch
            {
                student.Dispose();
                throw;
            }
        }
        catch
        {
            teacher?.Dispose();
            data?.Dispose();
            onnxTeacher?.Dispose();
            throw;
        }
    }

    public string DataFingerprint { get; }

    public long TrainCount => _data.Train.Count;

    public void Restore(string path, TrainingCheckpointHeader header, IReadOnlyDictionary<string, byte[]> sections, CancellationToken cancel)
    {
        RestoreModel(path, sections, "student", _student);
        if (_teacher is not null)
            RestoreModel(path, sections, "teacher", _teacher);
    }

    public void RecordStart(RunContext run)
    {
        var tracker = run.Tracker;
        tracker.SetTag("data.sources", _data.Corpus.Path);
        tracker.SetTag("data.sizes", string.Create(CultureInfo.InvariantCulture,
            $"train={_data.Train.Count} validation={_data.Validation.Count} windows of {_data.Train.Context} tokens; corpus {_data.Corpus.ByteCount} bytes"));
        tracker.SetTag("data.tokenizer", $"{_data.Tokenizer.Kind} ({_data.Tokenizer.VocabSize} tokens)");
        if (_teacher is not null)
            tracker.LogMetric("teacher/params", _teacher.ParameterCount, 0);
        if (_onnxTeacher is not null)
        {
            tracker.SetTag("teacher.onnx", _onnxTeacher.Path);
            tracker.SetTag("teacher.onnx.sha256", DataFile.Sha256Hex(_onnxTeacher.Path));
        }
        tracker.LogMetric("student/params", _student.ParameterCount, 0);
    }

    public void PreparePhase(RunContext run, RunPhase phase, int index, CancellationToken cancel)
    {
    }

    /// <summary>Unreachable: recipes refuse quantize sections (and with them stages of no epochs) for language models.</summary>
    public void Calibrate(RunContext run, RunPhase phase, PhaseState state, CancellationToken cancel) =>
        throw new InvalidInputException($"stage '{phase.Name}': a language-model stage needs epochs > 0");

    public FamilyPhase StartPhase(RunContext run, RunPhase phase, int index)
    {
        bool student = phase is StudentPhase;
        var model = student ? _student : _teacher!;
        // The loss holds the hint adapters: they train beside the model, on its device.
        var loss = NewLoss(PhaseLoss(phase.Stage, student), model.Options, student ? _teacher?.Options : null, student ? _onnxTeacher : null)
            .to(ComputeDevice.Of(model));
        var setup = new LmPhaseSetup(phase.Name, phase.Stage, model, student ? (ILmLogitSource?)_teacher ?? _onnxTeacher : null, loss);
        Parameter[] parameters = [.. model.parameters(), .. loss.parameters()];
        return new FamilyPhase(loss, parameters, [], (tracker, state, cancel) => new LmSteps(setup, _data, tracker, state, cancel), model.ParameterCount,
            phase.Stage.Loss.Get<KdOptions>()?.TeacherCacheTopK is { } k && student ? $", teacher top-{k} cache" : "");
    }

    public void EndPhase(RunContext run, RunPhase phase, int epoch)
    {
    }

    public CheckpointParts CheckpointParts() => new([],
        [new(TrainingCheckpoint.ModelSection("student"), ModelCheckpoint.ModelBytes(_student))],
        _teacher is null ? [] : [new(TrainingCheckpoint.ModelSection("teacher"), ModelCheckpoint.ModelBytes(_teacher))]);

    public void Finish(RunContext run, int studentEpochs, CancellationToken cancel)
    {
        if (_teacher is not null)
            RecordFinalModel(run, _teacher, "teacher", RunExecutor.TeacherArtifact, cancel);
        if (_onnxTeacher is not null)
            RecordOnnxTeacher(run, _onnxTeacher, cancel);
        RecordFinalModel(run, _student, "student", RunExecutor.StudentArtifact, cancel);
        RunExports(run, cancel);
    }

    /// <summary>Exports the final student to each target of the recipe, into the run, verified and measured on the
    /// validation windows in the target's runtime (on the CPU, where that runtime runs).</summary>
    private void RunExports(RunContext run, CancellationToken cancel)
    {
        if (run.Plan.Exports.Count == 0)
            return;
        _student.to(CPU);
        foreach (var profile in run.Plan.Exports)
        {
            cancel.ThrowIfCancellationRequested();
            run.Log.Information("Export {Target}: writing the language model and verifying it in its runtime", profile.Name);
            var export = new LanguageModelExport(new LmExportRequest(_student, _data.Tokenizer, profile, _data.Validation,
                ExportRecorder.OutputIn(run.Tracker, profile), new ExportSource(run.Tracker.RunId, RunExecutor.StudentArtifact))
            {
                Threads = torch.get_num_threads(),
                Calibration = _data.Train,
                Log = run.Log,
            });
            var report = ExportRecorder.ExportInto(run.Tracker, export);
            run.Log.Information("Export {Target}: {Size:N0} bytes, {Summary}", profile.Name, report.SizeBytes, report.Summary());
        }
    }

    public void Dispose()
    {
        _student.Dispose();
        _teacher?.Dispose();
        _data.Dispose();
        _onnxTeacher?.Dispose();
    }

    /// <summary>The recipe's sizes with the data's vocabulary and context (a checkpoint's own context when the model is loaded).</summary>
    private static TransformerLmOptions ModelOptions(ModelSpec spec, TextData data, string? checkpoint)
    {
        int context = checkpoint is null ? data.Train.Context : LmCheckpoint.Describe(checkpoint).Model.Context;
        return spec.Lm! with { Context = context, VocabSize = data.Tokenizer.VocabSize, Dropout = spec.Dropout };
    }

    private static LossOptions PhaseLoss(StageOptions stage, bool student) => student ? stage.Loss : stage.Loss.HardLabelsOnly();

    /// <summary>Builds every stage's loss once, so that wrong layer names or a top-k beyond the vocabulary stop the
    /// run before it opens.</summary>
    private static void ValidateLosses(RunPlan plan, IReadOnlyList<RunPhase> phases, TransformerLmOptions student, TransformerLmOptions? teacher,
        OnnxLmTeacher? onnxTeacher, int vocab)
    {
        foreach (var phase in phases.OfType<StudentPhase>())
        {
            string path = $"stages[{phase.StageIndex}]";
            try
            {
                using var loss = NewLoss(PhaseLoss(phase.Stage, true), student, teacher, onnxTeacher);
            }
            catch (InvalidInputException e)
            {
                throw new InvalidInputException($"{path}.loss: {e.Message}", e);
            }
            if (phase.Stage.Loss.Get<KdOptions>()?.TeacherCacheTopK is { } k && k > vocab)
                throw new InvalidInputException($"{path}.loss.teacher_cache.top_k: {k} is more than the vocabulary ({vocab} {plan.Data.Text!.Tokenizer} tokens)");
        }
    }

    /// <summary>The loss against a TorchSharp teacher (any loss) or an ONNX teacher (logits only: KD).</summary>
    private static DistillationLoss NewLoss(LossOptions options, TransformerLmOptions model, TransformerLmOptions? teacher, OnnxLmTeacher? onnxTeacher) =>
        new(options, LossModel.Of(model),
            onnxTeacher is not null ? LossModel.LogitsOf($"the ONNX teacher '{onnxTeacher.Path}'", onnxTeacher.VocabSize)
            : teacher is null ? null : LossModel.Of(teacher));

    private static void RestoreModel(string path, IReadOnlyDictionary<string, byte[]> sections, string role, TransformerLm model)
    {
        if (!sections.TryGetValue(TrainingCheckpoint.ModelSection(role), out var bytes))
            throw new InvalidInputException($"{path}: checkpoint has no {role} weights");
        ModelCheckpoint.LoadWeights(path, model, bytes);
    }

    /// <summary>Saves a final model with its tokenizer and logs its validation figures.</summary>
    private void RecordFinalModel(RunContext run, TransformerLm model, string role, string artifact, CancellationToken cancel)
    {
        var batch = run.Plan.Stages[^1].BatchSize;
        var validation = LmEvaluator.Evaluate(model, _data.Validation, _data.Tokenizer, batch, cancel);
        var path = run.ArtifactPath(artifact);
        LmCheckpoint.Save(path, model, _data.Tokenizer, role, run.Tracker.RunId);
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
    private void RecordOnnxTeacher(RunContext run, OnnxLmTeacher teacher, CancellationToken cancel)
    {
        var validation = LmEvaluator.Evaluate(teacher, _data.Validation, _data.Tokenizer, run.Plan.Stages[^1].BatchSize, cancel);
        run.Tracker.LogMetric("teacher/val_cross_entropy", validation.CrossEntropy, 0);
        run.Tracker.LogMetric("teacher/val_bpb", validation.BitsPerByte, 0);
        run.Tracker.LogMetric("teacher/perplexity", validation.Perplexity, 0);
        run.Tracker.LogMetric("teacher/size_bytes", new FileInfo(teacher.Path).Length, 0);
        run.Log.Information("Teacher ({Teacher}, ONNX Runtime): validation {Bpb:F4} bits/byte, perplexity {Perplexity:F3}",
            teacher.Path, validation.BitsPerByte, validation.Perplexity);
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
}
