using System.Text;
using System.Text.RegularExpressions;
using Distill.Core;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Training;
using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>Every key a recipe may have, with its type, default and allowed values. The loader,
/// the --set overrides, the resolved recipe and <see cref="DescribeDefaults"/> all read this one table.</summary>
public static partial class RecipeSchema
{
    // Lazy: the builders read the static schema fields below, which are initialised in textual order.
    private static readonly Lazy<MapSchema> RootSchema = new(BuildRoot);

    internal static MapSchema Root => RootSchema.Value;

    /// <summary>Every key path the schema knows, e.g. "stages[].optimizer.lr", in schema order.</summary>
    public static IReadOnlyList<string> KeyPaths() => Walk(Root, "").Select(line => line.Path).ToList();

    /// <summary>One line per key: path, type and allowed values, default (or required/optional), and what it does.</summary>
    public static string DescribeDefaults()
    {
        var lines = Walk(Root, "").ToList();
        int width = lines.Max(l => l.Path.Length) + 2;
        var text = new StringBuilder();
        text.AppendLine("Recipe keys: path, type, default, meaning. \"stages[]\" stands for every item of the stages list.");
        text.AppendLine("Relative paths are relative to the recipe file's folder.");
        text.AppendLine();
        foreach (var line in lines)
        {
            text.Append(line.Path.PadRight(width)).Append(line.Type).Append("; ").Append(line.Default)
                .Append(". ").AppendLine(line.Doc);
        }
        return text.ToString();
    }

    private sealed record KeyLine(string Path, string Type, string Default, string Doc);

    private static IEnumerable<KeyLine> Walk(MapSchema map, string parent)
    {
        foreach (var field in map.Fields)
        {
            string path = Paths.Join(parent, field.Key);
            yield return new KeyLine(path, field.Schema.Describe(), DescribeDefault(field, parent), field.Doc);
            var (child, childPath) = field.Schema switch
            {
                MapSchema m => (m, path),
                ListSchema { Item: MapSchema m } => (m, path + "[]"),
                _ => ((MapSchema?)null, path),
            };
            if (child is not null)
            {
                foreach (var line in Walk(child, childPath))
                {
                    yield return line;
                }
            }
        }
    }

    private static string DescribeDefault(Field field, string parent)
    {
        string when = field.When is { } c ? $" when {c.Describe(parent)}" : "";
        string only = field.When is { } o ? $"; only when {o.Describe(parent)}" : "";
        if (field.Required)
        {
            return "required" + when;
        }
        if (field.Default is { } value)
        {
            return "default " + ValueText.Format(value) + only;
        }
        if (field.DefaultText is { } text)
        {
            return "default " + text + only;
        }
        if (field.DefaultEmpty)
        {
            return "optional, defaults filled in" + only;
        }
        return "optional" + only;
    }

    [GeneratedRegex("^https?://[^\\s/?#@]+(/[^\\s?#]*)?$")]
    private static partial Regex HttpUrlPattern();

    private static ScalarSchema Int(double? min = null, double? max = null) =>
        new() { Kind = ScalarKind.Integer, Min = min, Max = max };

    private static ScalarSchema Number(double? min = null, bool minExclusive = false, double? max = null, bool maxExclusive = false) =>
        new() { Kind = ScalarKind.Number, Min = min, MinExclusive = minExclusive, Max = max, MaxExclusive = maxExclusive };

    private static ScalarSchema Fraction() => Number(0, max: 1, maxExclusive: true);

    private static readonly ScalarSchema Bool = new() { Kind = ScalarKind.Boolean };
    private static readonly ScalarSchema Text = new() { Kind = ScalarKind.String };
    private static readonly ScalarSchema Description = new() { Kind = ScalarKind.String, AllowEmpty = true, MaxLength = RecipeLimits.Description };
    private static readonly ScalarSchema RunName = new() { Kind = ScalarKind.String, Pattern = PlainName.Pattern(), PatternRule = PlainName.Rule, MaxLength = RecipeLimits.RunName };
    private static readonly ScalarSchema StageName = new() { Kind = ScalarKind.String, Pattern = PlainName.Pattern(), PatternRule = PlainName.Rule, MaxLength = RecipeLimits.StageName };
    private static readonly ScalarSchema FilePath = new() { Kind = ScalarKind.Path };
    private static readonly ScalarSchema CheckpointPath = new() { Kind = ScalarKind.Checkpoint };
    private static readonly ScalarSchema FolderPath = new() { Kind = ScalarKind.Folder };
    private static readonly ScalarSchema ExistingFolder = new() { Kind = ScalarKind.ExistingFolder };
    private static readonly ScalarSchema HttpUrl = new() { Kind = ScalarKind.String, Pattern = HttpUrlPattern() };

    private static ScalarSchema Enum(params string[] allowed) => new() { Kind = ScalarKind.Enum, Allowed = allowed };

    private static MapSchema BuildRoot() => new()
    {
        Fields =
        [
            new() { Key = "name", Schema = RunName, Required = true, Doc = "Name of the run, used in the tracking store" },
            new() { Key = "description", Schema = Description, Doc = "Free text recorded with the run" },
            new() { Key = "seed", Schema = Int(0, int.MaxValue), Default = 42L, Doc = "Seed for data splits, shuffling and weight initialisation" },
            new() { Key = "device", Schema = Enum("cpu", "cuda"), Default = "cpu", Doc = "Where training runs: cpu, or cuda (needs Distill built with TorchSharp-cuda-linux and an NVIDIA GPU; refused at this line otherwise); the data stays in CPU memory and exports run on the CPU" },
            new() { Key = "data", Schema = Data(), Required = true, Doc = "The data set and its preprocessing" },
            new() { Key = "teacher", Schema = Teacher(), Doc = "The model to distil from; without it the student is trained on hard labels" },
            new()
            {
                Key = "student",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        ModelField("The small model that is trained"),
                        new() { Key = "checkpoint", Schema = CheckpointPath, Doc = "Start from the weights (and pruning masks) of this model checkpoint, e.g. runs:/fashion-mnist-kd/models/student.ckpt (the newest FINISHED run of that recipe name in the run store; or a run id or unique id prefix) or a file path; same architecture as model" },
                    ],
                },
                Required = true,
                Doc = "The model being trained",
            },
            new()
            {
                Key = "stages",
                Schema = new ListSchema { Item = Stage(teacherStage: false), MinCount = 1, MaxCount = RecipeLimits.Stages },
                Required = true,
                Doc = "Training stages of the student, run in order; each continues from the previous one",
            },
            new() { Key = "tracking", Schema = Tracking(), DefaultEmpty = true, Doc = "Where the run is recorded" },
            new() { Key = "energy", Schema = Energy(), Doc = "How the energy of training (energy/train_joules) and of each ONNX export (export/<target>/energy_mj_per_inference) is obtained: measured from RAPL where a package counter is readable, else estimated from the process's CPU time; the method is the run's energy_method tag" },
            new()
            {
                Key = "export",
                Schema = new ListSchema
                {
                    Item = new MapSchema
                    {
                        Fields =
                        [
                            new() { Key = "target", Schema = new ScalarSchema { Kind = ScalarKind.Target }, Required = true, Doc = "Target profile: a name in configs/targets (distill targets list) or a profile file" },
                            new()
                            {
                                Key = "verify_samples",
                                Schema = new ScalarSchema { Kind = ScalarKind.String, Pattern = new Regex("^(all|[1-9][0-9]{0,17})$") },
                                DefaultText = "all in ONNX Runtime, 1000 in Arm NN",
                                Doc = "Test samples the export is verified and measured on in its runtime: a number (a random sample stratified by label, seeded by the recipe) or all",
                            },
                            new()
                            {
                                Key = "latency_runs",
                                Schema = Int(1, RecipeLimits.LatencyRuns.Value),
                                DefaultText = $"{Distill.Core.Export.Onnx.OnnxExportBackend.LatencyRuns}",
                                Doc = "ONNX targets: timed runs behind each latency median (batch 1 and batch 64), after the warm-up runs",
                            },
                        ],
                    },
                },
                Doc = "Export the final student to these hardware targets at the end of the run (files and metrics under exports/<target>/)",
            },
            new() { Key = "family", Schema = Family(), Doc = "Variants of the student made by `distill train` in one family run, each exported to the export: targets, with a family manifest (exports/<target>/family/) for each ONNX target; a sweep's trials ignore it" },
            new() { Key = "sweep", Schema = Sweep(), Doc = "The search space of `distill sweep` (ignored by distill train); --grid, --random and the sweep options on the command line win over it" },
        ],
    };

    private static MapSchema Data()
    {
        var idx = new Condition("format", "idx");
        var csv = new Condition("format", "csv");
        var fixedNorm = new Condition("normalize", "fixed");
        var image = new Condition("format", "idx", "csv", "image_folder");
        var numbered = new Condition("format", "idx", "csv");
        var folder = new Condition("format", "image_folder");
        var heldOut = new Condition("format", "csv", "image_folder");
        var text = new Condition("format", "text");
        return new MapSchema
        {
            Fields =
            [
                new() { Key = "format", Schema = Enum("idx", "csv", "image_folder", "text"), Default = "idx", Doc = "idx: MNIST-style image and label files (optionally .gz); csv: one sample per row; image_folder: one sub-folder of PNG/JPEG images per class; text: a plain-text corpus for language models (transformer-lm)" },
                new() { Key = "train", Schema = IdxPair(), Required = true, When = idx, Doc = "Training images and labels" },
                new() { Key = "test", Schema = IdxPair(), Required = true, When = idx, Doc = "Test images and labels" },
                new() { Key = "train_csv", Schema = FilePath, Required = true, When = csv, Doc = "CSV of numeric features and an integer label per row" },
                new() { Key = "test_csv", Schema = FilePath, When = csv, Doc = "Test CSV; without it test_fraction of train_csv is held out (stratified)" },
                new() { Key = "label_column", Schema = Text, When = csv, Doc = "Header name of the label column; absent = the last column" },
                new() { Key = "header", Schema = Bool, Default = true, When = csv, Doc = "Whether the first row is a header" },
                new() { Key = "features", Schema = new ListSchema { Item = Text, MinCount = 1 }, When = csv, Doc = "Feature columns by header name, in this order (other columns are ignored); named columns are read with Microsoft.Data.Analysis and an empty cell is an error naming its row and column; absent = every column but the label" },
                new() { Key = "labels", Schema = Enum("index", "name"), Default = "index", When = csv, Doc = "index: labels are class numbers 0..K-1; name: labels are class names (any text), whose distinct values sorted ordinally become classes 0..K-1, recorded with the run and in the model card" },
                new() { Key = "image_shape", Schema = new ListSchema { Item = Int(1, RecipeLimits.ImageSide.Value), ExactCount = 3 }, When = csv, Doc = "Reshape each row's features to [channels, height, width], e.g. [1, 8, 8]" },
                new() { Key = "scale", Schema = Number(0, minExclusive: true), Default = 1.0, When = csv, Doc = "Divide features by this before normalisation (16 for optical digits)" },
                new() { Key = "train_folder", Schema = ExistingFolder, Required = true, When = folder, Doc = "Folder with one sub-folder per class (its name is the class; names sorted give the labels 0..K-1) of PNG or JPEG images (.png, .jpg, .jpeg; other files are ignored)" },
                new() { Key = "test_folder", Schema = ExistingFolder, When = folder, Doc = "Test images, in sub-folders named as train_folder's classes; without it test_fraction of train_folder is held out (stratified)" },
                new() { Key = "image_size", Schema = new ListSchema { Item = Int(1, RecipeLimits.ImageSide.Value), ExactCount = 2 }, Required = true, When = folder, Doc = "[height, width]: every image is resized to this (bilinear) unless it has that size" },
                new() { Key = "channels", Schema = Int(1, 3), Required = true, When = folder, Doc = "1: grey, 3: RGB; an image of the other kind is an error unless convert_channels" },
                new() { Key = "convert_channels", Schema = Bool, Default = false, When = folder, Doc = "Convert grey images to RGB (channels 3) and colour images to grey (channels 1, ITU-R BT.601 luma) instead of refusing them" },
                new() { Key = "skip_bad", Schema = Bool, Default = false, When = folder, Doc = "Skip images that cannot be decoded (logged with their count) instead of stopping with the first one's path" },
                new() { Key = "test_fraction", Schema = Fraction(), Default = 0.2, When = heldOut, Doc = "Fraction of train_csv (train_folder) held out for testing when test_csv (test_folder) is absent" },
                new() { Key = "num_classes", Schema = Int(2, Core.Data.CsvTable.MaxLabel + 1), When = numbered, Doc = "Number of classes: every label must be in 0..num_classes-1, and a class may have no sample; absent = the largest training label + 1, and every class below it needs a training sample" },
                new() { Key = "validation_fraction", Schema = Fraction(), Default = 0.1, Doc = "Stratified fraction of the training data held out for validation (text: the tail of every block, at most 0.5)" },
                new() { Key = "normalize", Schema = Enum("none", "standard", "fixed"), Default = "standard", When = image, Doc = "none: as read (IDX bytes and image pixels scaled to 0..1); standard: per-channel mean/std of the training split; fixed: mean/std given below" },
                new() { Key = "mean", Schema = new ListSchema { Item = Number(), MinCount = 1 }, Required = true, When = fixedNorm, Doc = "Per-channel mean" },
                new() { Key = "std", Schema = new ListSchema { Item = Number(0, minExclusive: true), MinCount = 1 }, Required = true, When = fixedNorm, Doc = "Per-channel standard deviation, same length as mean" },
                new() { Key = "max_train", Schema = Int(1, int.MaxValue), When = image, Doc = "Use at most this many training samples (stratified, deterministic)" },
                new() { Key = "max_test", Schema = Int(1, int.MaxValue), When = image, Doc = "Use at most this many test samples (stratified, deterministic)" },
                new()
                {
                    Key = "augment",
                    Schema = new MapSchema
                    {
                        Fields =
                        [
                            new() { Key = "max_shift", Schema = Int(0, RecipeLimits.MaxShift.Value), Default = 0L, Doc = "Random shift of up to this many pixels (zero padded)" },
                            new() { Key = "horizontal_flip", Schema = Bool, Default = false, Doc = "Random horizontal flip" },
                            new() { Key = "mixup", Schema = MixSchema(), Doc = "Mixup (Zhang et al.): each batch blended with a shuffled copy of itself, x = λ·x + (1 − λ)·x', labels alike; a teacher sees the blended images" },
                            new() { Key = "cutmix", Schema = MixSchema(), Doc = "CutMix (Yun et al.): a box of a shuffled copy pasted into each image, λ = the share of its own pixels; with mixup too, each batch uses one of them (½ each)" },
                        ],
                    },
                    When = image,
                    Doc = "Random augmentation of training batches; present means teacher outputs are not cached",
                },
                new() { Key = "path", Schema = FilePath, Required = true, When = text, Doc = "The corpus: a UTF-8 plain-text file (not empty, no binary data)" },
                new() { Key = "tokenizer", Schema = Enum("byte", "char"), Default = "byte", When = text, Doc = "byte: one token per UTF-8 byte (256 tokens, no vocabulary file); char: one token per character of the corpus (the vocabulary is saved with the models)" },
                new() { Key = "context", Schema = Int(1, RecipeLimits.Context.Value), Default = 128L, When = text, Doc = "Tokens per training window: the models' context length" },
                new() { Key = "blocks", Schema = Int(1, RecipeLimits.Blocks.Value), Default = 10L, When = text, Doc = "The token stream is cut into this many contiguous blocks; the tail (validation_fraction) of each is validation text" },
                new() { Key = "stride", Schema = Int(0, int.MaxValue), Default = 0L, When = text, Doc = "Tokens between window starts; 0 = context (windows do not overlap)" },
                new() { Key = "max_train_windows", Schema = Int(1, int.MaxValue), When = text, Doc = "Use at most this many training windows, spread evenly over the corpus" },
                new() { Key = "max_validation_windows", Schema = Int(1, int.MaxValue), When = text, Doc = "Use at most this many validation windows, spread evenly over the corpus" },
            ],
        };
    }

    private static MapSchema IdxPair() => new()
    {
        Fields =
        [
            new() { Key = "images", Schema = FilePath, Required = true, Doc = "IDX image file" },
            new() { Key = "labels", Schema = FilePath, Required = true, Doc = "IDX label file" },
        ],
    };

    private static MapSchema MixSchema() => new()
    {
        Fields = [new() { Key = "alpha", Schema = Number(0, minExclusive: true), Default = 1.0, Doc = "λ ~ Beta(alpha, alpha) per batch; small alpha mixes little (0.2 is common for mixup, 1.0 for CutMix)" }],
    };

    private static MapSchema Teacher() => new()
    {
        Fields =
        [
            ModelField("The teacher's architecture; required unless onnx or ensemble", required: false),
            new() { Key = "train", Schema = Stage(teacherStage: true), Doc = "Train the teacher in this run (a stage with plain cross-entropy); exclusive with checkpoint" },
            new() { Key = "checkpoint", Schema = CheckpointPath, Doc = "Load the teacher's weights from this checkpoint (a file path, or runs:/<run name, id or id prefix>/models/teacher.ckpt as for student.checkpoint); exclusive with train" },
            new() { Key = "onnx", Schema = FilePath, Doc = "An ONNX file as the teacher, run in ONNX Runtime (forward passes only): an image or tabular classifier, or for data.format text a language model (int64 tokens in, logits out, a language-model card; e.g. from distill export --target onnx-fp32), which serves KD only; exclusive with model, train and checkpoint" },
            .. OnnxOptionFields(),
            EnsembleField(),
        ],
    };

    private static Field ModelField(string doc, bool required = true)
    {
        var cnn = new Condition("arch", Architectures.NameOf(ModelArch.Cnn));
        var mobilenet = new Condition("arch", Architectures.NameOf(ModelArch.MobileNetV2));
        var staged = new Condition("arch", Architectures.NameOf(ModelArch.Resnet), Architectures.NameOf(ModelArch.MobileNetV2));
        var convolutional = new Condition("arch", Architectures.NameOf(ModelArch.Cnn), Architectures.NameOf(ModelArch.Resnet), Architectures.NameOf(ModelArch.MobileNetV2));
        var classifier = new Condition("arch", [.. Architectures.NamesOf(ModelFamilyKind.Classifier)]);
        var lm = new Condition("arch", [.. Architectures.NamesOf(ModelFamilyKind.LanguageModel)]);
        return new Field
        {
            Key = "model",
            Required = required,
            Doc = doc,
            Schema = new MapSchema
            {
                Fields =
                [
                    new() { Key = "arch", Schema = Enum([.. Architectures.Registry.Names]), Required = true, Doc = string.Join("; ", Architectures.Registry.Entries.Select(e => $"{e.Name}: {e.Doc}")) },
                    new() { Key = "channels", Schema = new ListSchema { Item = Int(1, RecipeLimits.Width.Value), MinCount = 1, MaxCount = RecipeLimits.ConvBlocks }, Required = true, When = convolutional, Doc = "Output channels of each conv block (resnet, mobilenet_v2: width of each stage; mobilenet_v2: before width_multiplier)" },
                    new()
                    {
                        Key = "blocks",
                        Schema = new ListSchema { Item = Int(1, RecipeLimits.ConvBlocks.Value), MaxCount = RecipeLimits.ConvBlocks },
                        When = staged,
                        DefaultFrom = m => RepeatPerBlock(m, 1L),
                        DefaultText = "1 for every stage",
                        Doc = "Residual blocks in each stage (resnet: basic, mobilenet_v2: inverted; the first block of every stage after the first halves the image size); same length as channels",
                    },
                    new() { Key = "expansion", Schema = Int(1, 16), Default = 6L, When = mobilenet, Doc = "How many times an inverted residual block widens its input before the depthwise conv (1: no expand conv)" },
                    new() { Key = "width_multiplier", Schema = Number(0.05, max: 8), Default = 1.0, When = mobilenet, Doc = "Scales every stage's width (rounded to a multiple of 8, at most 10 % down)" },
                    new() { Key = "exact_widths", Schema = Bool, Default = false, When = mobilenet, Doc = "The channels are the stage widths as built, no width_multiplier or rounding applied (as a channel-pruning shrink leaves them; the checkpoint's description says \"exact widths\"); exclusive with width_multiplier" },
                    new()
                    {
                        Key = "inner_widths",
                        Schema = new ListSchema { Item = Int(1, RecipeLimits.Width.Value), MinCount = 1, MaxCount = RecipeLimits.ListItems },
                        When = staged,
                        Doc = "The inner width of every block in order over all stages (resnet: conv1's output channels; mobilenet_v2: the expanded width), as a channel-pruning shrink leaves them (the checkpoint's description lists them as \"inner widths\"); one per block; default: the stage width (resnet) or the block's input width x expansion (mobilenet_v2)",
                    },
                    new() { Key = "hidden", Schema = new ListSchema { Item = Int(1, RecipeLimits.Width.Value), MaxCount = RecipeLimits.HiddenLayers }, Default = Array.Empty<object>(), When = classifier, Doc = "Widths of the hidden fully connected layers (cnn, resnet, mobilenet_v2: of the head)" },
                    new()
                    {
                        Key = "depthwise",
                        Schema = new ListSchema { Item = Bool, MaxCount = RecipeLimits.ConvBlocks },
                        When = cnn,
                        DefaultFrom = m => RepeatPerBlock(m, false),
                        DefaultText = "false for every block",
                        Doc = "Per block: depthwise-separable (depthwise + pointwise) instead of a full conv; same length as channels",
                    },
                    new()
                    {
                        Key = "pool",
                        Schema = new ListSchema { Item = Bool, MaxCount = RecipeLimits.ConvBlocks },
                        When = cnn,
                        DefaultFrom = m => RepeatPerBlock(m, true),
                        DefaultText = "true for every block",
                        Doc = "Per block: 2x2 max-pool after it; same length as channels",
                    },
                    new() { Key = "kernel_size", Schema = Int(1, RecipeLimits.KernelSize.Value), Default = 3L, When = cnn, Doc = "Conv kernel size" },
                    new() { Key = "batch_norm", Schema = Bool, Default = true, When = classifier, Doc = "Batch normalisation after each conv / hidden layer" },
                    new() { Key = "layers", Schema = Int(1, RecipeLimits.TransformerLayers.Value), Default = 4L, When = lm, Doc = "Transformer blocks (pre-norm: causal self-attention and a GELU MLP)" },
                    new() { Key = "d_model", Schema = Int(1, RecipeLimits.Width.Value), Default = 128L, When = lm, Doc = "Width of the token embeddings and hidden states" },
                    new() { Key = "heads", Schema = Int(1, RecipeLimits.Heads.Value), Default = 4L, When = lm, Doc = "Attention heads; must divide d_model" },
                    new() { Key = "d_ff", Schema = Int(0, RecipeLimits.FeedForward.Value), Default = 0L, When = lm, Doc = "Hidden width of each block's MLP; 0 = 4 * d_model" },
                    new() { Key = "dropout", Schema = Fraction(), Default = 0.0, Doc = "Dropout probability before each fully connected layer (transformer-lm: on embeddings, attention and residual branches)" },
                ],
            },
        };
    }

    private static object[]? RepeatPerBlock(MapValue model, object value)
    {
        var channels = model.Get("channels") as ListValue;
        return channels is null ? null : Enumerable.Repeat(value, channels.Items.Count).ToArray();
    }

    private static MapSchema Stage(bool teacherStage)
    {
        var stageName = teacherStage
            ? new Field { Key = "name", Schema = StageName, Default = "teacher", Doc = "Stage name (unique; used in metric names)" }
            : new Field { Key = "name", Schema = StageName, Required = true, Doc = "Stage name (unique; used in metric names)" };
        return new MapSchema
        {
            Fields =
            [
                stageName,
                new() { Key = "epochs", Schema = Int(teacherStage ? 1 : 0, RecipeLimits.Epochs.Value), Default = 1L, Doc = teacherStage ? "Passes over the training data" : "Passes over the training data; 0 only with quantize (post-training calibration, no training)" },
                new() { Key = "batch_size", Schema = Int(1, RecipeLimits.BatchSize.Value), Default = 128L, Doc = "Samples per optimiser step" },
                new() { Key = "optimizer", Schema = Optimizer(), DefaultEmpty = true, Doc = "Optimiser" },
                new() { Key = "schedule", Schema = Schedule(), DefaultEmpty = true, Doc = "Learning-rate schedule, evaluated per optimiser step" },
                new() { Key = "loss", Schema = Loss(teacherStage), DefaultEmpty = true, Doc = teacherStage ? "Loss (the teacher uses plain cross-entropy)" : LossDoc() },
                new() { Key = "clip_grad_norm", Schema = Number(0, minExclusive: true), Doc = "Clip the global gradient norm to this value; absent = no clipping" },
                new()
                {
                    Key = "early_stop",
                    Schema = new MapSchema
                    {
                        Fields =
                        [
                            new() { Key = "metric", Schema = Enum("val/acc", "val/loss"), Default = "val/acc", Doc = "val/acc: higher is better; val/loss: lower is better" },
                            new() { Key = "patience", Schema = Int(1, 100000), Default = 3L, Doc = "Stop after this many epochs without improvement" },
                            new() { Key = "min_delta", Schema = Number(0), Default = 0.0, Doc = "Smallest change that counts as an improvement" },
                        ],
                    },
                    Doc = "Stop the stage early when the validation metric stops improving; needs validation_fraction > 0",
                },
                new() { Key = "cache_teacher", Schema = Bool, Default = true, Doc = "Image models: reuse teacher outputs across epochs when the data has no augmentation (transformer-lm: see loss.teacher_cache); with data.augment it resolves to false, and true written there is an error (a cache cannot serve augmented views)" },
                .. (teacherStage
                    ? Array.Empty<Field>()
                    :
                    [
                        new Field { Key = "prune", Schema = Prune(), Doc = "Prune the student in this stage; pruned weights stay zero in every later stage" },
                        new Field { Key = "quantize", Schema = Quantize(), Doc = "Quantise the student from this stage on: fake-quantisation in the loop (QAT), or with epochs: 0 post-training calibration; it stays quantised in every later stage" },
                    ]),
            ],
            Forbidden = teacherStage
                ? new Dictionary<string, string>
                {
                    ["prune"] = "pruning acts on the student; put prune in one of the stages",
                    ["quantize"] = "quantisation acts on the student; put quantize in one of the stages",
                }
                : new Dictionary<string, string>(),
        };
    }

    private static MapSchema Quantize() => new()
    {
        Fields =
        [
            new() { Key = "weights", Schema = QuantScheme(weights: true), DefaultEmpty = true, Doc = "How conv and linear weights (batch norm folded in) are quantised" },
            new() { Key = "activations", Schema = QuantScheme(weights: false), DefaultEmpty = true, Doc = "How the model input and every layer's output (after its ReLU) are quantised, per tensor" },
            new() { Key = "weight_observer", Schema = Enum([.. Observers.Registry.Names]), Default = Observers.NameOf(new QuantConfig().WeightObserver), Doc = "How weight ranges are found" },
            new() { Key = "activation_observer", Schema = Enum([.. Observers.Registry.Names]), Default = Observers.NameOf(new QuantConfig().ActivationObserver), Doc = "How activation ranges are found: " + string.Join("; ", Observers.Registry.Entries.Select(e => $"{e.Name}: {e.Doc}")) },
            .. Observers.Options.Select(FromOption),
            new() { Key = "observer_steps", Schema = Int(1, int.MaxValue), Default = 100L, Doc = "QAT: training steps during which observers run before the qparams freeze (at the latest at the end of the stage's first epoch)" },
            new() { Key = "learned_step_size", Schema = Bool, Default = false, Doc = "QAT: learn the scales (LSQ) once the observers freeze" },
            new() { Key = "fold_batch_norm", Schema = Bool, Default = true, Doc = "Fold each batch norm into the conv before it, so the folded weight is what gets quantised" },
            new() { Key = "freeze_bn_epoch", Schema = Int(0, 100000), Doc = "QAT: from this epoch of the stage (0-based) on, batch norms use and keep their running statistics; absent = never" },
            new() { Key = "quantize_input", Schema = Bool, Default = true, Doc = "Quantise the model input too" },
            new() { Key = "first_layer", Schema = Enum("integer", "float"), Default = "integer", Doc = "float: a first conv keeps float weights and computes in float on the float input; only its output is quantised (as int8 ONNX targets with first_layer: float want it, e.g. x86-vnni; TFLite int8 needs integer). An MLP's first layer stays integer" },
            new() { Key = "calibration_batches", Schema = Int(1, RecipeLimits.CalibrationBatches.Value), Default = 16L, Doc = "epochs: 0: batches of the training split (of batch_size samples) to calibrate on" },
            new()
            {
                Key = "layers",
                Schema = new ListSchema
                {
                    Item = new MapSchema
                    {
                        Fields =
                        [
                            new() { Key = "pattern", Schema = Text, Required = true, Doc = "Layer name glob (* and ?): block0.conv, block1.depthwise, head.fc0, head.out" },
                            new() { Key = "float", Schema = Bool, Default = false, Doc = "Leave these layers in float" },
                            new() { Key = "weight_bits", Schema = Int(2, 8), Doc = "Their weight bits" },
                            new() { Key = "activation_bits", Schema = Int(2, 8), Doc = "Their output bits" },
                        ],
                    },
                },
                Default = Array.Empty<object>(),
                Doc = "Mixed precision by layer; later entries win, e.g. [{ pattern: block1.*, weight_bits: 4 }, { pattern: head.out, float: true }]",
            },
            new()
            {
                Key = "auto",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        new() { Key = "max_drop", Schema = Number(0, max: 1), Doc = "Largest validation accuracy drop against the float student, as a fraction (0.005 = half a point); the most sensitive layers go to float until it is met" },
                        new() { Key = "size_budget_bytes", Schema = Int(1, long.MaxValue), Doc = "Largest size of the conv and linear layers' weights and biases; the most sensitive layers go to float while they fit" },
                    ],
                },
                Doc = "Automatic mixed precision: each conv and linear layer's sensitivity is measured on the validation split, then layers are left in float (the rest take weights/activations) to meet max_drop or size_budget_bytes (exactly one); the choice is logged, tagged stage.<name>.quantize.auto and written to quantize-auto/<stage>.json; if the target cannot be met the best configuration found is kept. Classifiers; int8 ONNX targets run the float layers, full-integer TFLite cannot",
            },
        ],
    };

    private static MapSchema QuantScheme(bool weights) => new()
    {
        Fields =
        [
            new() { Key = "bits", Schema = Int(2, 8), Default = 8L, Doc = "Integer bits, 2 to 8" },
            new() { Key = "symmetric", Schema = Bool, Default = weights, Doc = "Zero point fixed at 0 (signed) or the middle code (unsigned)" },
            new() { Key = "signed", Schema = Bool, Default = true, Doc = "Signed (int) or unsigned (uint) codes" },
            new() { Key = "narrow_range", Schema = Bool, Default = weights, Doc = "Drop the lowest code (int8: [-127, 127])" },
            .. (weights
                ? [new Field { Key = "per_channel", Schema = Bool, Default = true, Doc = "One scale per output channel instead of one per tensor" }]
                : Array.Empty<Field>()),
        ],
    };

    private static MapSchema Energy() => new()
    {
        Fields =
        [
            new() { Key = "watts_per_core", Schema = Number(0, minExclusive: true, max: 1000), DefaultText = "10", Doc = "Without readable RAPL counters: the power of a busy core, in watts, that the CPU time is multiplied by (a laptop or desktop core under load draws roughly 5 to 15 W); recorded as the energy_watts_per_core tag" },
        ],
    };

    private static MapSchema Tracking() => new()
    {
        Fields =
        [
            new() { Key = "store", Schema = FolderPath, Doc = "Folder of the run store (relative to the recipe's folder), where runs:/ references are looked up too; --store on the command line wins over it; absent = $DISTILL_STORE, else ./distill-runs" },
            new() { Key = "experiment", Schema = Text, Default = "default", Doc = "Experiment the run is filed under" },
            new() { Key = "uri", Schema = HttpUrl, Doc = "MLflow tracking server that also gets the run; --tracking-uri on the command line wins over it; absent = $MLFLOW_TRACKING_URI" },
        ],
    };
}
