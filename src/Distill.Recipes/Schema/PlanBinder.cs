using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Distill.Core.Tracking;
using Distill.Core.Training;

namespace Distill.Recipes.Schema;

/// <summary>Turns a validated, default-filled value tree into Core's option records. Only called when
/// validation found no error, so every required key is present and of the right type.</summary>
internal static class PlanBinder
{
    public static RunPlan Bind(MapValue root, string baseDirectory) => new()
    {
        Name = Str(root, "name"),
        Description = root.Str("description"),
        Seed = Int(root, "seed"),
        Device = Str(root, "device"),
        Data = BindData(Map(root, "data")),
        Teacher = root.Map("teacher") is { } teacher && teacher.Str("onnx") is null && teacher.Get("ensemble") is null ? BindTeacher(teacher) : null,
        OnnxTeacher = root.Map("teacher") is { } onnxTeacher && onnxTeacher.Str("onnx") is not null ? OnnxTeacherBinder.Bind(onnxTeacher) : null,
        TeacherEnsemble = root.Map("teacher")?.Get("ensemble") is ListValue members ? TeacherEnsembleBinder.Bind(members) : null,
        Student = new StudentOptions { Model = BindModel(Map(Map(root, "student"), "model")), Checkpoint = Map(root, "student").Str("checkpoint") },
        Stages = root.List("stages").Cast<MapValue>().Select(BindStage).ToList(),
        Tracking = BindTracking(Map(root, "tracking")),
        Energy = new Core.Export.Energy.EnergyOptions
        {
            WattsPerCore = root.Map("energy")?.Raw("watts_per_core") as double? ?? Core.Export.Energy.EnergyMeter.DefaultWattsPerCore,
        },
        Exports = ExportChecks.Bind(root, baseDirectory),
        Sweep = SweepSection.Bind(root),
        Family = FamilySection.Bind(root),
        ResolvedRecipe = ResolvedRecipe.ToYaml(root),
        Params = ResolvedRecipe.Flatten(root),
        BaseDirectory = baseDirectory,
    };

    private static DataOptions BindData(MapValue data)
    {
        string format = Str(data, "format");
        bool idx = format == "idx";
        return new DataOptions
        {
            Format = Choice(format, "data.format", ("idx", DataFormat.Idx), ("csv", DataFormat.Csv), ("image_folder", DataFormat.ImageFolder), ("text", DataFormat.Text)),
            TrainFolder = data.Str("train_folder"),
            TestFolder = data.Str("test_folder"),
            ImageFolder = format == "image_folder"
                ? new ImageFolderOptions
                {
                    Height = Ints(data, "image_size")![0],
                    Width = Ints(data, "image_size")![1],
                    Channels = Int(data, "channels"),
                    ConvertChannels = Bool(data, "convert_channels"),
                    SkipBad = Bool(data, "skip_bad"),
                }
                : null,
            TrainIdx = idx ? BindIdx(Map(data, "train")) : null,
            TestIdx = idx ? BindIdx(Map(data, "test")) : null,
            TrainCsv = data.Str("train_csv"),
            TestCsv = data.Str("test_csv"),
            LabelColumn = data.Str("label_column"),
            CsvHasHeader = data.Raw("header") as bool? ?? true,
            CsvFeatures = data.Get("features") is ListValue features ? features.Items.Select(i => (string)Scalar(i)).ToArray() : null,
            CsvLabelNames = data.Str("labels") == "name",
            ImageShape = data.Get("image_shape") is ListValue shape ? shape.Items.Select(i => (long)Scalar(i)).ToArray() : null,
            CsvScale = data.Raw("scale") as double? ?? 1.0,
            TestFraction = data.Raw("test_fraction") as double? ?? 0.2,
            NumClasses = OptInt(data, "num_classes"),
            ValidationFraction = Num(data, "validation_fraction"),
            // Text data has no normalize key: the record's default stands.
            Normalize = data.Str("normalize") is { } normalize
                ? Choice(normalize, "data.normalize", ("none", NormalizationMode.None), ("standard", NormalizationMode.Standard), ("fixed", NormalizationMode.Fixed))
                : new DataOptions().Normalize,
            Mean = Doubles(data, "mean"),
            Std = Doubles(data, "std"),
            MaxTrain = OptInt(data, "max_train"),
            MaxTest = OptInt(data, "max_test"),
            Augment = data.Map("augment") is { } augment
                ? new AugmentOptions
                {
                    MaxShift = Int(augment, "max_shift"),
                    HorizontalFlip = Bool(augment, "horizontal_flip"),
                    MixupAlpha = augment.Map("mixup") is { } mixup ? Num(mixup, "alpha") : null,
                    CutMixAlpha = augment.Map("cutmix") is { } cutmix ? Num(cutmix, "alpha") : null,
                }
                : null,
            TextPath = data.Str("path"),
            Text = format == "text"
                ? new TextDataOptions
                {
                    Tokenizer = Str(data, "tokenizer"),
                    Context = Int(data, "context"),
                    ValidationFraction = Num(data, "validation_fraction"),
                    Blocks = Int(data, "blocks"),
                    Stride = Int(data, "stride"),
                }
                : null,
            MaxTrainWindows = OptInt(data, "max_train_windows"),
            MaxValidationWindows = OptInt(data, "max_validation_windows"),
        };
    }

    private static IdxFiles BindIdx(MapValue pair) => new(Str(pair, "images"), Str(pair, "labels"));

    private static TeacherOptions BindTeacher(MapValue teacher) => new()
    {
        Model = BindModel(Map(teacher, "model")),
        Train = teacher.Map("train") is { } train ? BindStage(train) : null,
        Checkpoint = teacher.Str("checkpoint"),
    };

    internal static ModelSpec BindModel(MapValue model) => new()
    {
        Arch = Architectures.Registry.Get(Str(model, "arch")).Arch,
        Channels = Ints(model, "channels") ?? [],
        Hidden = Ints(model, "hidden") ?? [],
        Blocks = Ints(model, "blocks") ?? [],
        Expansion = OptInt(model, "expansion") ?? 6,
        WidthMultiplier = model.Raw("width_multiplier") as double? ?? 1.0,
        ExactWidths = model.Raw("exact_widths") as bool? ?? false,
        InnerWidths = Ints(model, "inner_widths"),
        Depthwise = Bools(model, "depthwise"),
        Pool = Bools(model, "pool"),
        KernelSize = OptInt(model, "kernel_size") ?? 3,
        BatchNorm = model.Raw("batch_norm") as bool? ?? true,
        Dropout = Num(model, "dropout"),
        Lm = Architectures.Registry.Get(Str(model, "arch")).Family == ModelFamilyKind.LanguageModel
            ? new TransformerLmOptions
            {
                Layers = Int(model, "layers"),
                DModel = Int(model, "d_model"),
                Heads = Int(model, "heads"),
                DFF = Int(model, "d_ff"),
                Dropout = Num(model, "dropout"),
            }
            : null,
    };

    private static StageOptions BindStage(MapValue stage)
    {
        var optimizer = Map(stage, "optimizer");
        var schedule = Map(stage, "schedule");
        var loss = Map(stage, "loss");
        var betas = Doubles(optimizer, "betas")!;
        return new StageOptions
        {
            Name = Str(stage, "name"),
            Epochs = Int(stage, "epochs"),
            BatchSize = Int(stage, "batch_size"),
            Optimizer = new OptimizerOptions
            {
                Kind = Optimizers.Registry.Get(Str(optimizer, "name")).Kind,
                LearningRate = Num(optimizer, "lr"),
                WeightDecay = Num(optimizer, "weight_decay"),
                Momentum = Num(optimizer, "momentum"),
                Nesterov = Bool(optimizer, "nesterov"),
                Beta1 = betas[0],
                Beta2 = betas[1],
            },
            Schedule = new ScheduleOptions
            {
                Kind = Schedules.Registry.Get(Str(schedule, "name")).Kind,
                WarmupEpochs = Num(schedule, "warmup_epochs"),
                StepEpochs = Int(schedule, "step_epochs"),
                Gamma = Num(schedule, "gamma"),
                MinLearningRate = Num(schedule, "min_lr"),
                PctStart = Num(schedule, "pct_start"),
            },
            Loss = Losses.Bind(new OptionValues(loss)),
            ClipGradNorm = stage.Raw("clip_grad_norm") as double?,
            EarlyStop = stage.Map("early_stop") is { } early
                ? new EarlyStopOptions { Metric = Str(early, "metric"), Patience = Int(early, "patience"), MinDelta = Num(early, "min_delta") }
                : null,
            CacheTeacher = Bool(stage, "cache_teacher"),
            Prune = stage.Find("prune") is { Value: MapValue prune } entry ? BindPrune(prune, entry.KeyAt) : null,
            Quantize = stage.Find("quantize") is { Value: MapValue quantize } q ? BindQuantize(quantize, q.KeyAt) : null,
        };
    }

    private static QuantizeOptions BindQuantize(MapValue quantize, Location at) => new()
    {
        Config = new QuantConfig
        {
            Weights = BindScheme(Map(quantize, "weights")),
            Activations = BindScheme(Map(quantize, "activations")),
            WeightObserver = Observer(Str(quantize, "weight_observer")),
            ActivationObserver = Observer(Str(quantize, "activation_observer")),
            Observer = new ObserverOptions
            {
                Percentile = Num(quantize, "percentile"),
                Momentum = Num(quantize, "momentum"),
                Bins = Int(quantize, "bins"),
            },
            ObserverSteps = Int(quantize, "observer_steps"),
            LearnedStepSize = Bool(quantize, "learned_step_size"),
            FoldBatchNorm = Bool(quantize, "fold_batch_norm"),
            FreezeBatchNormEpoch = OptInt(quantize, "freeze_bn_epoch"),
            QuantizeInput = Bool(quantize, "quantize_input"),
            FirstLayerFloat = Choice(Str(quantize, "first_layer"), "quantize.first_layer", ("integer", false), ("float", true)),
            Overrides = quantize.List("layers").Cast<MapValue>()
                .Select(o => new LayerOverride
                {
                    Pattern = Str(o, "pattern"),
                    Float = Bool(o, "float"),
                    WeightBits = OptInt(o, "weight_bits"),
                    ActivationBits = OptInt(o, "activation_bits"),
                    Where = Where(o.At),
                })
                .ToList(),
        },
        CalibrationBatches = Int(quantize, "calibration_batches"),
        Auto = quantize.Map("auto") is { } auto
            ? new MixedPrecisionTarget { MaxDrop = auto.Raw("max_drop") as double?, SizeBudgetBytes = auto.Raw("size_budget_bytes") as long?, Where = Where(auto.At) }
            : null,
        Where = Where(at),
    };

    private static QuantScheme BindScheme(MapValue scheme) => new()
    {
        Bits = Int(scheme, "bits"),
        Symmetric = Bool(scheme, "symmetric"),
        Signed = Bool(scheme, "signed"),
        NarrowRange = Bool(scheme, "narrow_range"),
        PerChannel = scheme.Raw("per_channel") as bool? ?? false,
    };

    private static ObserverKind Observer(string name) => Observers.Registry.Get(name).Kind;

    private static PruneOptions BindPrune(MapValue prune, Location at) => new()
    {
        Method = PruningMethods.Registry.Get(Str(prune, "method")).Kind,
        // A method that does not rank (n_m) or does not use a norm has no such key: the record's default stands.
        Ranking = prune.Str("ranking") is { } ranking
            ? Choice(ranking, "prune.ranking", ("global", PruneRanking.Global), ("layer", PruneRanking.Layer))
            : new PruneOptions().Ranking,
        Norm = prune.Str("norm") is { } norm ? Choice(norm, "prune.norm", ("l1", ChannelNorm.L1), ("l2", ChannelNorm.L2)) : new PruneOptions().Norm,
        Sparsity = prune.Raw("sparsity") as double? ?? 0,
        N = OptInt(prune, "n") ?? 2,
        M = OptInt(prune, "m") ?? 4,
        Schedule = Choice(Str(prune, "schedule"), "prune.schedule", ("one_shot", PruneSchedule.OneShot), ("gradual", PruneSchedule.Gradual)),
        StartEpoch = Num(prune, "start_epoch"),
        EndEpoch = prune.Raw("end_epoch") as double?,
        InitialSparsity = prune.Raw("initial_sparsity") as double? ?? 0,
        UpdateEvery = OptInt(prune, "update_every") ?? 50,
        Layers = Patterns(prune, "layers"),
        Exclude = Patterns(prune, "exclude"),
        KeepFirstLastDense = Bool(prune, "keep_first_last_dense"),
        Overrides = prune.List("overrides").Cast<MapValue>()
            .Select(o => new LayerSparsity(Str(o, "layer"), Num(o, "sparsity"), Where(o.At)))
            .ToList(),
        Shrink = prune.Raw("shrink") as bool? ?? false,
        Where = Where(at),
    };

    private static List<LayerPattern> Patterns(MapValue map, string key) =>
        map.List(key).Select(item => new LayerPattern((string)Scalar(item), Where(item.At))).ToList();

    private static string Where(Location at) => $"{at.File}:{at.Line}:{at.Column}";

    private static TrackingOptions BindTracking(MapValue tracking) => new()
    {
        Store = tracking.Str("store"),
        Experiment = Str(tracking, "experiment"),
        Uri = tracking.Str("uri"),
    };

    /// <summary>The value a validated name stands for. The schema allowed only these names, so another one means
    /// the schema and the binder are out of step: a bug, never a silent default.</summary>
    private static T Choice<T>(string name, string key, params (string Name, T Value)[] choices)
    {
        foreach (var (known, value) in choices)
        {
            if (known == name)
                return value;
        }
        throw new InvalidOperationException($"validated recipe has {key} '{name}', which the binder does not know");
    }

    private static MapValue Map(MapValue map, string key) =>
        map.Map(key) ?? throw new InvalidOperationException($"validated recipe lacks mapping '{key}'");

    private static object Scalar(Value value) =>
        (value as ScalarValue)?.Raw ?? throw new InvalidOperationException("validated recipe has a non-scalar list item");

    private static object Raw(MapValue map, string key) =>
        map.Raw(key) ?? throw new InvalidOperationException($"validated recipe lacks key '{key}'");

    private static string Str(MapValue map, string key) => (string)Raw(map, key);

    private static int Int(MapValue map, string key) => checked((int)(long)Raw(map, key));

    private static int? OptInt(MapValue map, string key) => map.Raw(key) is long value ? checked((int)value) : null;

    private static double Num(MapValue map, string key) => (double)Raw(map, key);

    private static bool Bool(MapValue map, string key) => (bool)Raw(map, key);

    private static int[]? Ints(MapValue map, string key) =>
        map.Get(key) is ListValue list ? list.Items.Select(i => checked((int)(long)Scalar(i))).ToArray() : null;

    private static double[]? Doubles(MapValue map, string key) =>
        map.Get(key) is ListValue list ? list.Items.Select(i => (double)Scalar(i)).ToArray() : null;

    private static bool[]? Bools(MapValue map, string key) =>
        map.Get(key) is ListValue list ? list.Items.Select(i => (bool)Scalar(i)).ToArray() : null;
}
