using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Tracking;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>
/// Classifiers (zoo models on tabular or image data): a teacher (a zoo model, trained in the run or loaded, an
/// ONNX file, or an ensemble of checkpoints and ONNX files), a student that stages distil, prune (masks, then maybe shrink) and quantise (QAT, or calibration with
/// no epochs); final models measured on the test split and exported to the recipe's targets.
/// </summary>
internal sealed class ClassifierFamily : IModelFamily
{
    private readonly DataSplits _data;
    private readonly ZooModel? _teacher;
    private readonly OnnxTeacher? _onnxTeacher;
    private readonly ZooModel _student;
    private readonly StudentPruning _pruning;
    private readonly StudentQuantization _quantization = new();
    private TeacherEnsemble? _ensemble;

    private ClassifierFamily(DataSplits data, ZooModel? teacher, OnnxTeacher? onnxTeacher, ZooModel student)
    {
        _data = data;
        _teacher = teacher;
        _onnxTeacher = onnxTeacher;
        _student = student;
        _pruning = new StudentPruning(student);
    }

    /// <summary>Reads the data and builds (or loads) the teacher and the student; every model spec and file is
    /// checked here, before a run is opened.</summary>
    public static ClassifierFamily Load(RunPlan plan, Device device, CancellationToken cancel)
    {
        var data = DatasetLoader.Load(plan.Data, plan.BaseDirectory, plan.Seed, cancel);
        ZooModel? teacher = null;
        OnnxTeacher? onnxTeacher = null;
        TeacherEnsemble? ensemble = null;
        ZooModel? student = null;
        ClassifierFamily? family = null;
        try
        {
            manual_seed(plan.Seed);
            teacher = plan.Teacher is null ? null : Build(plan.Teacher.Model, data, device, cancel);
            if (plan.Teacher?.Checkpoint is { } teacherCheckpoint)
                ModelCheckpoint.LoadInto(plan.ResolvePath(teacherCheckpoint), teacher!, "recipe's teacher");
            onnxTeacher = plan.OnnxTeacher is { } onnx
                ? OnnxTeacher.Load(onnx, plan.ResolvePath(onnx.Path), data.InputShape, data.NumClasses, data.Normalization, device)
                : null;
            // Rebuilding a member draws from the generator; the student is seeded afresh below, so it starts the same.
            ensemble = plan.TeacherEnsemble is { } members
                ? TeacherEnsemble.Load(members, plan.ResolvePath, data.InputShape, data.NumClasses, data.Normalization, device)
                : null;
            manual_seed(plan.Seed + 1);
            student = Build(plan.Student.Model, data, device, cancel);
            family = new ClassifierFamily(data, teacher, onnxTeacher, student) { _ensemble = ensemble };
            if (plan.Student.Checkpoint is { } studentCheckpoint)
            {
                var path = plan.ResolvePath(studentCheckpoint);
                family._pruning.LoadStudentCheckpoint(path);
                family._quantization.Restore(path, CheckpointFile.Read(path).Sections, student);
            }
            StudentPruning.Validate(plan.Stages, student);
            StudentQuantization.Validate(plan.Stages, student, family._quantization.Quantized is not null);
            return family;
        }
        catch
        {
            if (family is not null)
            {
                family.Dispose();
            }
            else
            {
                student?.Dispose();
                ensemble?.Dispose();
                onnxTeacher?.Dispose();
                teacher?.Dispose();
                data.Dispose();
            }
            throw;
        }
    }

    public string DataFingerprint => _data.Fingerprint;

    public long TrainCount => _data.Train.Count;

    private ITeacher? DistillFrom => (ITeacher?)_teacher ?? (ITeacher?)_onnxTeacher ?? _ensemble;

    public void Restore(string path, TrainingCheckpointHeader header, IReadOnlyDictionary<string, byte[]> sections, CancellationToken cancel)
    {
        if (header.Models.TryGetValue("student", out var saved) && !saved.SameArchitecture(ModelDescriptor.Of(_student, null)))
            _pruning.Replace(ModelZoo.Build(saved.Spec, saved.InputShape, saved.NumClasses, cancel).to(ComputeDevice.Of(_student))); // shrunk by an earlier stage
        RestoreModel(path, sections, "student", _pruning.Student);
        _pruning.RestoreMasks(path, sections);
        _quantization.Restore(path, sections, _pruning.Student);
        if (_teacher is not null)
            RestoreModel(path, sections, "teacher", _teacher);
    }

    public void RecordStart(RunContext run)
    {
        var tracker = run.Tracker;
        if (_onnxTeacher is not null)
        {
            tracker.SetTag("teacher.onnx", _onnxTeacher.Path);
            tracker.SetTag("teacher.onnx.sha256", DataFile.Sha256Hex(_onnxTeacher.Path));
        }
        if (_ensemble is not null)
            EnsembleResults.RecordStart(run, _ensemble);
        tracker.SetTag("data.sources", string.Join(";", _data.SourceFiles));
        if (_data.Reading?.ClassNames is { } classNames)
            tracker.SetTag("data.class_names", ClassNamesTag(classNames));
        foreach (string note in _data.Notes)
            run.Log.Information("Data: {Note}", note);
        tracker.SetTag("data.sizes", $"train={_data.Train.Count} validation={_data.Validation.Count} test={_data.Test.Count}");
        if (_data.Normalization is { } n)
            tracker.SetTag("data.normalization", $"mean=[{Join(n.Mean)}] std=[{Join(n.Std)}]");
        if (_teacher is not null)
            tracker.LogMetric("teacher/params", _teacher.ParameterCount, 0);
        tracker.LogMetric("student/params", _pruning.Student.ParameterCount, 0);
    }

    /// <summary>The class names in label order as a JSON array; cut short (ending "…") where a tag's length limit is reached.</summary>
    internal static string ClassNamesTag(IReadOnlyList<string> names)
    {
        string all = System.Text.Json.JsonSerializer.Serialize(names);
        if (all.Length <= TrackingLimits.TagValueLength)
            return all;
        var kept = new List<string>();
        foreach (string name in names)
        {
            if (System.Text.Json.JsonSerializer.Serialize(kept.Append(name).Append("…")).Length > TrackingLimits.TagValueLength)
                break;
            kept.Add(name);
        }
        return System.Text.Json.JsonSerializer.Serialize(kept.Append("…"));
    }

    public void PreparePhase(RunContext run, RunPhase phase, int index, CancellationToken cancel)
    {
        if (phase is not StudentPhase || phase.Stage.Quantize is not { } quantize || _quantization.Quantized is not null)
            return;
        _quantization.Start(phase.Stage, _pruning.Student, _data.Train, _data.Validation, EpochTrainer.EpochSeed(run.Plan.Seed, index, -1), cancel);
        if (_quantization.AutoChoice is { } choice)
            RecordAutoChoice(run, phase.Name, choice);
        run.Log.Information("Stage {Stage}: {What} ({Weights} weights, {Activations} activations)", phase.Name,
            phase.Stage.Epochs == 0 ? "post-training quantisation" : "quantisation-aware training",
            quantize.Config.Weights, quantize.Config.Activations);
    }

    /// <summary>quantize.auto's choice: logged, the stage's quantize.auto tag, and quantize-auto/&lt;stage&gt;.json with every
    /// layer's sensitivity and every configuration measured (the checkpoints and the model file keep the float layers).</summary>
    private static void RecordAutoChoice(RunContext run, string stage, MixedPrecisionChoice choice)
    {
        run.Log.Information("Stage {Stage}: quantize.auto {Summary}", stage, choice.Summary);
        if (!choice.Met)
            run.Log.Warning("Stage {Stage}: quantize.auto could not meet {Target}; the best configuration found is used", stage, choice.Target);
        run.Tracker.SetTag($"stage.{stage}.quantize.auto", TrackingNames.FitTagValue(choice.Summary));
        run.Tracker.LogMetric($"quant/auto_val_acc", choice.Accuracy, 0);
        run.Tracker.LogMetric($"quant/auto_float_layers", choice.FloatLayers.Count, 0);
        string artifact = $"quantize-auto/{stage}.json";
        string path = run.ArtifactPath(artifact);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteText(path, System.Text.Json.JsonSerializer.Serialize(new
        {
            target = choice.Target.ToString(),
            met = choice.Met,
            float_layers = choice.FloatLayers,
            float_accuracy = choice.FloatAccuracy,
            accuracy = choice.Accuracy,
            size_bytes = choice.SizeBytes,
            all_integer_bytes = choice.AllIntegerBytes,
            all_float_bytes = choice.AllFloatBytes,
            sensitivity = choice.Sensitivity.Select(r => new { layer = r.Layer, precision = r.Precision, parameters = r.Parameters, accuracy = r.Metric, loss = r.Loss, sqnr_db = r.SqnrDb }),
            steps = choice.Steps.Select(step => new { float_layers = step.FloatLayers, accuracy = step.Accuracy, size_bytes = step.SizeBytes }),
        }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        run.Tracker.RegisterArtifact(artifact);
    }

    /// <summary>A quantize stage with no epochs: the student was calibrated when the stage started; this measures it
    /// on the validation split.</summary>
    public void Calibrate(RunContext run, RunPhase phase, PhaseState state, CancellationToken cancel)
    {
        var validation = Evaluator.Evaluate(_quantization.Quantized!, _data.Validation, cancel: cancel);
        run.Tracker.LogMetric("quant/val_acc", validation.Accuracy, state.EpochOffset);
        run.Log.Information("Stage {Stage}: calibrated; validation accuracy {Accuracy:P2}", phase.Name, validation.Accuracy);
    }

    public FamilyPhase StartPhase(RunContext run, RunPhase phase, int index)
    {
        var model = phase is TeacherPhase ? _teacher! : _pruning.Student;
        var teacher = phase is StudentPhase ? DistillFrom : null;
        var quantized = phase is StudentPhase ? _quantization.Quantized : null;
        // The loss holds the hint adapter: it trains beside the model, on its device.
        var loss = new DistillationLoss(phase is TeacherPhase ? phase.Stage.Loss.HardLabelsOnly() : phase.Stage.Loss,
            LossModel.Of(model), teacher is null ? null : LossModel.Of(teacher)).to(ComputeDevice.Of(model));
        long stepsPerEpoch = EpochTrainer.StepsPerEpoch(_data.Train.Count, phase.Stage.BatchSize);
        IReadOnlyList<IStepHook> hooks = phase is StudentPhase ? [.. _pruning.Hooks(phase.Stage, stepsPerEpoch), .. _quantization.Hooks()] : [];
        var setup = new PhaseSetup(phase.Name, index, phase.Stage, model, teacher, loss, phase.MetricPrefix, hooks, quantized);
        Parameter[] parameters = [.. setup.Trained.parameters(), .. loss.parameters()];
        return new FamilyPhase(loss, parameters, hooks, (tracker, _, cancel) => new ClassifierSteps(setup, _data, tracker, cancel),
            model.ParameterCount, Note: "");
    }

    /// <summary>A prune stage records its per-layer sparsity table and, when asked, shrinks the student (its new
    /// student/params at the stage's last epoch, <paramref name="epoch"/>).</summary>
    public void EndPhase(RunContext run, RunPhase phase, int epoch)
    {
        if (phase is not StudentPhase || phase.Stage.Prune is not { } prune)
            return;
        var artifact = $"pruning/sparsity-{phase.Name}.csv";
        AtomicFile.WriteText(run.ArtifactPath(artifact), _pruning.Table(), "the sparsity table");
        run.Tracker.RegisterArtifact(artifact);
        if (prune.Shrink)
        {
            var (before, after) = _pruning.Shrink();
            run.Tracker.LogMetric("student/params", after, epoch);
            var spec = _pruning.Student.Spec;
            run.Log.Information("Stage {Stage}: shrunk the student from {Before:N0} to {After:N0} parameters (channels [{Channels}]{Exact}{Inner}, hidden [{Hidden}])",
                phase.Name, before, after, string.Join(", ", spec.Channels), spec.ExactWidths ? " exact widths" : "",
                spec.InnerWidths is { } inner ? $", inner widths [{string.Join(", ", inner)}]" : "", string.Join(", ", spec.Hidden));
        }
    }

    public CheckpointParts CheckpointParts()
    {
        var student = _pruning.Student;
        var models = new Dictionary<string, ModelDescriptor> { ["student"] = ModelDescriptor.Of(student, _data.Normalization, _data.Reading) };
        var others = new List<KeyValuePair<string, byte[]>>([.. _pruning.Sections(), .. _quantization.Sections()]);
        if (_teacher is not null)
        {
            models["teacher"] = ModelDescriptor.Of(_teacher, _data.Normalization, _data.Reading);
            others.Add(new(TrainingCheckpoint.ModelSection("teacher"), ModelCheckpoint.ModelBytes(_teacher)));
        }
        return new CheckpointParts(models, [new(TrainingCheckpoint.ModelSection("student"), ModelCheckpoint.ModelBytes(student))], others);
    }

    public void Finish(RunContext run, int studentEpochs, CancellationToken cancel)
    {
        if (_onnxTeacher is not null)
            ClassifierResults.RecordOnnxTeacher(run, _data, _onnxTeacher, cancel);
        if (_ensemble is not null)
            EnsembleResults.Record(run, _data, _ensemble, cancel);
        if (_teacher is not null)
            ClassifierResults.RecordFinalModel(run, _data, _teacher, "teacher", RunExecutor.TeacherArtifact, cancel);
        var sections = _pruning.Sections();
        foreach (var (name, bytes) in _quantization.Sections())
            sections[name] = bytes;
        ClassifierResults.RecordFinalModel(run, _data, _pruning.Student, "student", RunExecutor.StudentArtifact, cancel, sections,
            _quantization.Quantized, pruned: _pruning.IsPruned);
        if (_pruning.IsPruned)
            ClassifierResults.RecordFinalSparsity(run, _pruning, studentEpochs);
        ClassifierResults.RunExports(run, _data, _pruning, _quantization, cancel);
    }

    public void Dispose()
    {
        _quantization.Dispose();
        _pruning.Dispose();
        _student.Dispose();
        _ensemble?.Dispose();
        _onnxTeacher?.Dispose();
        _teacher?.Dispose();
        _data.Dispose();
    }

    /// <summary>A zoo model built from its spec (under the caller's seed, in CPU memory, so that every device starts from
    /// the same weights) and moved to <paramref name="device"/>.</summary>
    private static ZooModel Build(ModelSpec spec, DataSplits data, Device device, CancellationToken cancel) =>
        ModelZoo.Build(spec, data.InputShape, data.NumClasses, cancel).to(device);

    private static void RestoreModel(string path, IReadOnlyDictionary<string, byte[]> sections, string role, ZooModel model)
    {
        if (!sections.TryGetValue(TrainingCheckpoint.ModelSection(role), out var bytes))
            throw new InvalidInputException($"{path}: checkpoint has no {role} weights");
        ModelCheckpoint.LoadWeights(path, model, bytes);
    }

    private static string Join(double[] values) => string.Join(", ", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)));
}
