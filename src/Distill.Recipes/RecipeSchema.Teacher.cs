using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>The teacher keys shared by an ONNX teacher (teacher.onnx) and the ONNX members of an ensemble
/// (teacher.ensemble[].onnx), and the ensemble's own.</summary>
public static partial class RecipeSchema
{
    /// <summary>How an ONNX file is run: which outputs are the logits and taps, threads, batch size and input. A member of
    /// an ensemble has no taps.</summary>
    private static Field[] OnnxOptionFields(bool member = false) =>
    [
        new()
        {
            Key = "outputs",
            Schema = new MapSchema
            {
                Fields =
                [
                    new() { Key = "logits", Schema = Text, DefaultText = "the file's only output, else its output named logits", Doc = "Output holding the logits [batch, classes] (text: [batch, sequence, vocab]); classes or vocabulary must be the student's" },
                    .. member
                        ? Array.Empty<Field>()
                        : [new Field { Key = "taps", Schema = new MapSchema { Fields = [], AnyKey = Text }, Doc = "Tap name (as hint losses say teacher_tap) to output name, e.g. { block1: block1 }; a Distill export has them with distill export --expose-taps; not for text" }],
                ],
                Forbidden = member
                    ? new Dictionary<string, string> { ["taps"] = "an ensemble has no taps (its members' logits are averaged; hint losses are refused)" }
                    : new Dictionary<string, string>(),
            },
            Doc = member ? "onnx: which output of the file holds the logits" : "onnx: which outputs of the file the teacher's logits and taps are",
        },
        new() { Key = "threads", Schema = Int(0, RecipeLimits.Threads.Value), DefaultText = "1", Doc = "onnx: ONNX Runtime intra-op threads; 0 = one per core" },
        new() { Key = "batch_size", Schema = Int(1, RecipeLimits.BatchSize.Value), DefaultText = "256", Doc = "onnx: samples (text: windows) per ONNX Runtime run (a file with a fixed batch dimension runs at that size)" },
        new()
        {
            Key = "input",
            Schema = new MapSchema
            {
                Fields =
                [
                    new() { Key = "name", Schema = Text, DefaultText = "the file's only input", Doc = "Input of the file to feed" },
                    new() { Key = "layout", Schema = Enum("nchw", "nhwc"), Default = "nchw", Doc = "nchw: [batch, channels, height, width] (Distill, PyTorch); nhwc: channels last (TensorFlow); tabular rows are [batch, features] either way" },
                    new()
                    {
                        Key = "preprocess",
                        Schema = new MapSchema
                        {
                            Fields =
                            [
                                new() { Key = "mean", Schema = new ListSchema { Item = Number(), MinCount = 1 }, Required = true, Doc = "Per-channel mean (one value for tabular rows)" },
                                new() { Key = "std", Schema = new ListSchema { Item = Number(0, minExclusive: true), MinCount = 1 }, Required = true, Doc = "Per-channel standard deviation, same length as mean" },
                            ],
                        },
                        Doc = "The teacher receives each sample as read (IDX pixels scaled to 0..1, CSV features divided by data.scale), not the data's normalisation that the student gets; with preprocess, normalised as (x - mean) / std per channel; absent = as read",
                    },
                ],
            },
            Doc = "onnx: how samples are fed to the file; not for text (a language model takes token ids)",
        },
    ];

    private static Field EnsembleField() => new()
    {
        Key = "ensemble",
        Schema = new ListSchema
        {
            Item = new MapSchema
            {
                Fields =
                [
                    new() { Key = "checkpoint", Schema = CheckpointPath, Doc = "A model checkpoint of an earlier run (a file path, or runs:/<run name, id or id prefix>/models/teacher.ckpt or student.ckpt); its architecture comes from the checkpoint; exclusive with onnx" },
                    new() { Key = "onnx", Schema = FilePath, Doc = "An ONNX classifier, run in ONNX Runtime with the ONNX keys below (as teacher.onnx); exclusive with checkpoint" },
                    .. OnnxOptionFields(member: true),
                ],
            },
            MinCount = 2,
        },
        Doc = "Classifiers: a teacher made of at least 2 members, each a checkpoint or an ONNX file, whose logits are averaged; it has no taps (loss.kd, no hint); exclusive with model, train, checkpoint and onnx",
    };
}
