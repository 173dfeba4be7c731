using Distill.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>One member of a <see cref="TeacherEnsemble"/>: its teacher, its file and, for a checkpoint, its parameter count.</summary>
public sealed record EnsembleMember(ITeacher Teacher, string Path, long? ParameterCount)
{
    public bool IsOnnx => Teacher is OnnxTeacher;
}

/// <summary>
/// Several teachers as one: its logits are the mean of the members' logits, sample by sample. Members are model
/// checkpoints (<see cref="CheckpointTeacher"/>, frozen in eval mode) and ONNX files (<see cref="OnnxTeacher"/>), all
/// run under no_grad. The ensemble has no taps, so it serves soft-target (KD) losses and refuses hint losses.
/// </summary>
/// <remarks>Why logits and not probabilities: the KD loss divides the teacher's logits by its temperature T before the
/// softmax, and the softmax of the mean logits is the normalised geometric mean of the members' distributions at every
/// T, so T acts on the ensemble as on one teacher. The arithmetic mean of probabilities is a different target at each
/// T (softmax(log p̄ / T) is not the mean of the members' softmax(z / T)), so offering it would mean passing the
/// temperature into the teacher; it is not offered.</remarks>
public sealed class TeacherEnsemble : ITeacher, IDisposable
{
    private TeacherEnsemble(IReadOnlyList<EnsembleMember> members, Device device)
    {
        Members = members;
        Device = device;
    }

    public IReadOnlyList<EnsembleMember> Members { get; }

    /// <summary>Where the checkpoint members run (the run's device); batches are fed there.</summary>
    public Device Device { get; }

    public IReadOnlyList<string> TapNames => [];

    public string Description => $"ensemble of {Members.Count} teachers ({string.Join(", ", Members.Select(m => m.Teacher.Description))})";

    /// <summary>Loads every member for data whose samples have <paramref name="sampleShape"/> (as the student takes them,
    /// normalised with <paramref name="dataNormalization"/>) and <paramref name="numClasses"/> classes. A member that
    /// cannot be loaded or does not fit the data throws <see cref="InvalidInputException"/> prefixed with where the
    /// member was written and its place in the ensemble.</summary>
    /// <param name="resolvePath">A member's path as written to a full path (the plan's <see cref="RunPlan.ResolvePath"/>).</param>
    public static TeacherEnsemble Load(TeacherEnsembleOptions options, Func<string, string> resolvePath, long[] sampleShape, int numClasses,
        Normalization? dataNormalization, Device device)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resolvePath);
        if (options.Members.Count < 2)
            throw new InvalidInputException($"an ensemble teacher needs at least 2 members, got {options.Members.Count}");
        var members = new List<EnsembleMember>();
        try
        {
            for (int i = 0; i < options.Members.Count; i++)
                members.Add(LoadMember(options.Members[i], i, resolvePath, sampleShape, numClasses, dataNormalization, device));
            return new TeacherEnsemble(members, device);
        }
        catch
        {
            foreach (var member in members)
                (member.Teacher as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>Always throws: an ensemble has no taps.</summary>
    public long[] TapShape(string tap) => throw NoTaps(tap);

    /// <summary>The mean of the members' logits; no taps. The members run under no_grad.</summary>
    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) ForwardWithTaps(Tensor x, IReadOnlyCollection<string> taps)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(taps);
        if (taps.Count > 0)
            throw NoTaps(taps.First());
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor? sum = null;
        foreach (var member in Members)
        {
            var (logits, _) = member.Teacher.ForwardWithTaps(x, []);
            sum = sum is null ? logits : sum.add_(logits, ScalarMath.One);
        }
        using var count = Members.Count.ToScalar();
        return (sum!.div_(count).MoveToOuterDisposeScope(), new Dictionary<string, Tensor>());
    }

    public void Dispose()
    {
        foreach (var member in Members)
            (member.Teacher as IDisposable)?.Dispose();
    }

    private static EnsembleMember LoadMember(EnsembleMemberOptions member, int index, Func<string, string> resolvePath, long[] sampleShape,
        int numClasses, Normalization? dataNormalization, Device device)
    {
        if ((member.Checkpoint is null) == (member.Onnx is null))
            throw new InvalidInputException($"{Where(member, index)}: needs exactly one of a checkpoint and an ONNX file");
        try
        {
            if (member.Onnx is { } onnx)
            {
                string path = resolvePath(onnx.Path);
                return new EnsembleMember(OnnxTeacher.Load(onnx, path, sampleShape, numClasses, dataNormalization, device), path, null);
            }
            var teacher = CheckpointTeacher.Load(resolvePath(member.Checkpoint!), sampleShape, numClasses, dataNormalization, device);
            return new EnsembleMember(teacher, teacher.Path, teacher.ParameterCount);
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"{Where(member, index)}: {e.Message}", e);
        }
    }

    /// <summary>"recipe.yaml:12:17: teacher.ensemble[1]", as a recipe error names a key.</summary>
    private static string Where(EnsembleMemberOptions member, int index) =>
        member.Where is { } where ? $"{where}: teacher.ensemble[{index}]" : $"teacher.ensemble[{index}]";

    private InvalidInputException NoTaps(string tap) =>
        new($"'{tap}' is not a tap of the teacher: an {Description} gives the mean of its members' logits and no taps; use loss.kd, not a hint loss");
}
