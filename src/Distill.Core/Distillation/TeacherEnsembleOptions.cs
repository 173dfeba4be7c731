namespace Distill.Core.Distillation;

/// <summary>Teachers whose logits are averaged into one teacher (<see cref="TeacherEnsemble"/>); classifiers only.</summary>
public sealed record TeacherEnsembleOptions
{
    /// <summary>At least two members, each a model checkpoint or an ONNX file.</summary>
    public required IReadOnlyList<EnsembleMemberOptions> Members { get; init; }
}

/// <summary>One member of a <see cref="TeacherEnsembleOptions"/>: exactly one of <see cref="Checkpoint"/> and
/// <see cref="Onnx"/>.</summary>
public sealed record EnsembleMemberOptions
{
    /// <summary>A Distill model checkpoint (models/teacher.ckpt or student.ckpt of a run); the model is rebuilt from its
    /// header, relative to the plan's base directory unless rooted.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>An ONNX file with the options of an ONNX teacher.</summary>
    public OnnxTeacherOptions? Onnx { get; init; }

    /// <summary>Where the member was written ("recipe.yaml:12:17"), so that a problem with its file, which only shows
    /// when the file is loaded, is reported at the recipe's line; null when built in code.</summary>
    public string? Where { get; init; }

    /// <summary>The member's file: the checkpoint or the ONNX file.</summary>
    public string Path => Checkpoint ?? Onnx?.Path ?? throw new InvalidOperationException("an ensemble member needs a checkpoint or an ONNX file");
}
