using Distill.Core.Models;
using Distill.Core.Training;

namespace Distill.Core.Pruning;

/// <summary>
/// What pruning has done to a run's student, kept for the rest of the run: the masks (re-applied in every
/// later stage, saved in every checkpoint and in the final model file) and, after a shrink, the smaller
/// student that replaces the one the run started with. Owned by the run executor.
/// </summary>
public sealed class StudentPruning(ZooModel student) : IDisposable
{
    public const string TableArtifact = "pruning/sparsity.csv";

    private ZooModel? _owned;
    private readonly long _originalParameters = student.ParameterCount;

    /// <summary>The current student: the original one, or its shrunk replacement.</summary>
    public ZooModel Student { get; private set; } = student;

    /// <summary>The dense parameter count of the student the run started with, once a shrink has replaced it; else null.</summary>
    public long? ShrunkFrom => _owned is null ? null : _originalParameters;

    /// <summary>Whether pruning has touched the student: it has masks, or it was shrunk.</summary>
    public bool IsPruned => !Masks.IsEmpty || ShrunkFrom is not null;
    public MaskSet Masks { get; } = new();

    /// <summary>Resolves every prune section against the student, so that a pattern matching nothing or
    /// an N:M that does not fit is reported before the run opens.</summary>
    public static void Validate(IEnumerable<StageOptions> stages, ZooModel student)
    {
        foreach (var stage in stages)
        {
            if (stage.Prune is not { } prune)
                continue;
            LayerSelection.Select(student, prune, stage.Name);
        }
    }

    /// <summary>Starts from a model checkpoint: its weights, and its masks when it has them.</summary>
    public void LoadStudentCheckpoint(string path)
    {
        ModelCheckpoint.LoadInto(path, Student, "recipe's student");
        var (_, sections) = CheckpointFile.Read(path);
        if (sections.TryGetValue(MaskSet.Section, out var bytes))
            LoadMasks(path, bytes);
    }

    /// <summary>Restores the masks of a training checkpoint (none when it has no mask section).</summary>
    public void RestoreMasks(string path, IReadOnlyDictionary<string, byte[]> sections)
    {
        if (sections.TryGetValue(MaskSet.Section, out var bytes))
            LoadMasks(path, bytes);
        else
            Masks.Clear();
    }

    /// <summary>Checkpoint sections that carry the masks (empty when nothing is pruned).</summary>
    public Dictionary<string, byte[]> Sections() =>
        Masks.IsEmpty ? [] : new Dictionary<string, byte[]> { [MaskSet.Section] = Masks.ToBytes() };

    /// <summary>The hook a student phase needs: it prunes when the stage has a prune section and keeps earlier
    /// masks in force otherwise; null when there is nothing to do.</summary>
    public IReadOnlyList<IStepHook> Hooks(StageOptions stage, long stepsPerEpoch) =>
        stage.Prune is null && Masks.IsEmpty
            ? []
            : [new PruningHook(Student, Masks, stage.Prune, stage.Name, stepsPerEpoch, stage.Epochs)];

    /// <summary>Replaces the student by one built elsewhere (a resumed run's shrunk student); owns it from then on.</summary>
    public void Replace(ZooModel model)
    {
        if (ReferenceEquals(model, Student))
            return;
        var previous = _owned;
        _owned = model;
        Student = model;
        previous?.Dispose();
    }

    /// <summary>Removes the pruned channels from the student; returns the parameter counts before and after.</summary>
    public (long Before, long After) Shrink()
    {
        long before = Student.ParameterCount;
        var (model, masks) = ModelShrinker.Shrink(Student, Masks);
        Masks.TakeFrom(masks);
        masks.Dispose();
        Replace(model);
        return (before, model.ParameterCount);
    }

    /// <summary>The per-layer sparsity table as CSV.</summary>
    public string Table() => SparsityReport.Csv(SparsityReport.Rows(Student, Masks));

    private void LoadMasks(string path, byte[] bytes)
    {
        using var loaded = MaskSet.FromBytes(path, bytes, Student);
        Masks.TakeFrom(loaded);
        Masks.ApplyTo(Student);
    }

    public void Dispose()
    {
        _owned?.Dispose();
        Masks.Dispose();
    }
}
