using Distill.Core.Tracking;
using Serilog;

namespace Distill.Core.Training;

/// <summary>One phase of a run: the teacher's own training (<see cref="TeacherPhase"/>) or one stage of the
/// student (<see cref="StudentPhase"/>). Each phase is a child run; phases of the same model continue its metric
/// steps and epochs.</summary>
public abstract record RunPhase(StageOptions Stage)
{
    public string Name => Stage.Name;

    /// <summary>The model the phase trains ("teacher" or "student"): its wall-clock key, the child run's
    /// distill.phase tag, and the key of its step and epoch offsets.</summary>
    public abstract string Role { get; }

    /// <summary>Prefix of the phase's metric names: "teacher/" for the teacher, none for the student.</summary>
    public abstract string MetricPrefix { get; }

    /// <summary>The recipe params the phase's child run records (those of its model and its stage).</summary>
    public abstract IReadOnlyList<string> ParamPrefixes { get; }

    /// <summary>The teacher's phase first (when the recipe trains it), then one phase per stage.</summary>
    public static IReadOnlyList<RunPhase> Of(RunPlan plan)
    {
        var phases = new List<RunPhase>();
        if (plan.Teacher?.Train is { } teacherStage)
            phases.Add(new TeacherPhase(teacherStage));
        phases.AddRange(plan.Stages.Select((stage, i) => new StudentPhase(stage, i)));
        return phases;
    }
}

/// <summary>The teacher trained from scratch, on hard labels, before the student learns from it.</summary>
public sealed record TeacherPhase(StageOptions Stage) : RunPhase(Stage)
{
    public override string Role => "teacher";
    public override string MetricPrefix => "teacher/";
    public override IReadOnlyList<string> ParamPrefixes => ["teacher."];
}

/// <summary>Stage <paramref name="StageIndex"/> of the recipe: the student learns, from the teacher when there is one.</summary>
public sealed record StudentPhase(StageOptions Stage, int StageIndex) : RunPhase(Stage)
{
    public override string Role => "student";
    public override string MetricPrefix => "";
    public override IReadOnlyList<string> ParamPrefixes => [ParamKeys.Item("stages", StageIndex) + ".", "student."];
}

/// <summary>What every part of a run works with once the run is open: the plan, the store and the run's tracker,
/// the run log, the wall-clock seconds per model (kept across a resume), the progress sink and the training energy.</summary>
public sealed record RunContext(RunPlan Plan, RunStore Store, ITracker Tracker, ILogger Log, Dictionary<string, double> Wall,
    IProgress<TrainingProgress>? Progress)
{
    /// <summary>The training energy of the run's phases (kept across a resume).</summary>
    public TrainingEnergy Energy { get; init; } = TrainingEnergy.Off;

    public string ArtifactPath(string artifact) => Path.Combine(Tracker.ArtifactDirectory, artifact);
}
