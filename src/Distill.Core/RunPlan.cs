using Distill.Core.Data;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Tracking;
using Distill.Core.Training;

namespace Distill.Core;

/// <summary>The teacher is either trained by the recipe (Model + Train) or loaded (Model + Checkpoint).</summary>
public sealed record TeacherOptions
{
    public required ModelSpec Model { get; init; }
    public StageOptions? Train { get; init; }
    public string? Checkpoint { get; init; }
}

public sealed record StudentOptions
{
    public required ModelSpec Model { get; init; }
    /// <summary>Start from the weights (and pruning masks, if any) of this model checkpoint.</summary>
    public string? Checkpoint { get; init; }
}

/// <summary>A validated recipe: everything Core needs to run, with defaults filled in.</summary>
public sealed record RunPlan
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public int Seed { get; init; } = 42;
    public string Device { get; init; } = "cpu";
    public required DataOptions Data { get; init; }
    public TeacherOptions? Teacher { get; init; }
    /// <summary>A teacher given as an ONNX file instead of a zoo model; exclusive with <see cref="Teacher"/>.</summary>
    public Distillation.OnnxTeacherOptions? OnnxTeacher { get; init; }
    /// <summary>Teachers whose mean logits are the teacher (classifiers); exclusive with <see cref="Teacher"/> and <see cref="OnnxTeacher"/>.</summary>
    public Distillation.TeacherEnsembleOptions? TeacherEnsemble { get; init; }
    public required StudentOptions Student { get; init; }
    public required IReadOnlyList<StageOptions> Stages { get; init; }
    public TrackingOptions Tracking { get; init; } = new();
    /// <summary>How the energy of training and of exports is measured or estimated.</summary>
    public Export.Energy.EnergyOptions Energy { get; init; } = new();
    /// <summary>Hardware targets the final student is exported to, after the final models are saved.</summary>
    public IReadOnlyList<TargetProfile> Exports { get; init; } = [];
    /// <summary>The recipe's sweep: section (what `distill sweep` tries); null when it has none. `distill train` ignores it.</summary>
    public Sweeps.SweepSettings? Sweep { get; init; }
    /// <summary>The recipe's family: section (the variants `distill train` makes); null when it has none. A sweep's trial ignores it.</summary>
    public Sweeps.FamilySettings? Family { get; init; }
    /// <summary>The resolved recipe as YAML (defaults filled in), recorded with the run.</summary>
    public string ResolvedRecipe { get; init; } = "";
    /// <summary>The resolved recipe flattened to dotted keys (stages[0].optimizer.lr), recorded as run params.</summary>
    public IReadOnlyDictionary<string, string> Params { get; init; } = new Dictionary<string, string>();
    /// <summary>Folder that relative paths in the recipe were resolved against.</summary>
    public string BaseDirectory { get; init; } = ".";

    /// <summary>A path of the recipe, relative to <see cref="BaseDirectory"/> unless rooted.</summary>
    public string ResolvePath(string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(BaseDirectory, path));
}
