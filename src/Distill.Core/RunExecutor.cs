using System.Diagnostics;
using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Text;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Distill.Core.Training;
using Serilog;
using Serilog.Formatting.Compact;
using static TorchSharp.torch;

namespace Distill.Core;

/// <summary>
/// The run lifecycle, one for every model family: loads the data and models (<see cref="IModelFamily"/>), opens or
/// resumes the run, records the recipe, runs the phases (teacher training, then each stage) as child runs with an
/// atomic checkpoint after every epoch, records the final models and exports; tracked from RUNNING to FINISHED,
/// FAILED or KILLED. Bad input (data files, checkpoints, model specs) is found before a run is opened, so it never
/// leaves an empty run behind.
/// </summary>
public sealed class RunExecutor(RunStore store, ILogger logger, IProgress<TrainingProgress>? progress = null)
{
    public const string RecipeArtifact = "recipe.yaml";
    public const string CheckpointArtifact = "checkpoints/last.ckpt";
    public const string TeacherArtifact = "models/teacher.ckpt";
    public const string StudentArtifact = "models/student.ckpt";
    public const string LogArtifact = "logs/run.jsonl";
    /// <summary>The run store's folder of decoded image folders (uint8 caches).</summary>
    public const string ImageCacheFolder = "data-cache";

    /// <summary>Wraps the store's tracker of each run, e.g. to send the run to an MLflow server as well.</summary>
    public Func<ITracker, ITracker>? TrackerDecorator { get; init; }

    /// <summary>The command that resumes a run, shown when it is interrupted or the disk fills up; the CLI adds the
    /// --store a later command needs to find the run.</summary>
    public Func<string, string> ResumeCommand { get; init; } = DefaultResumeCommand;

    /// <summary>A new run is started as a child of this run (a sweep's trial under its sweep run); null = a top-level run.</summary>
    public string? ParentRunId { get; init; }

    /// <summary>Tags a new run gets when it starts (a sweep trial's sweep id and index).</summary>
    public IReadOnlyDictionary<string, string> StartTags { get; init; } = new Dictionary<string, string>();

    /// <summary>This executor with new runs started as children of <paramref name="parentRunId"/>, with <paramref name="tags"/>.</summary>
    public RunExecutor AsTrial(string parentRunId, IReadOnlyDictionary<string, string> tags) => new(store, logger, progress)
    {
        TrackerDecorator = TrackerDecorator,
        ResumeCommand = ResumeCommand,
        ParentRunId = parentRunId,
        StartTags = tags,
    };

    public static string DefaultResumeCommand(string runId) => $"distill train --resume {runId}";

    public string Train(RunPlan plan, CancellationToken cancel) => Execute(plan, resumeRunId: null, cancel);

    public string Resume(RunPlan plan, string runId, CancellationToken cancel) => Execute(plan, runId, cancel);

    private string Execute(RunPlan plan, string? resumeRunId, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(plan);
        // A device this machine does not have is bad input, found before anything is read or created.
        var device = ComputeDevice.Resolve(plan.Device);
        string? checkpointPath = null;
        if (resumeRunId is not null)
        {
            var run = store.GetRun(resumeRunId);
            if (run.Status == RunStatus.Finished)
                throw new InvalidInputException($"run {run.Id} already finished; nothing to resume");
            // The file on disk, not the artifact record: the checkpoint is renamed into place before it is
            // registered, so a run killed between the two has a complete checkpoint that is not yet listed.
            checkpointPath = store.ArtifactFile(run.Id, CheckpointArtifact);
            if (!File.Exists(checkpointPath))
                throw new InvalidInputException($"run {run.Id} has no checkpoint to resume from (it stopped before its first epoch ended); start it again");
            resumeRunId = run.Id;
        }
        // Decoded image folders are cached beside the runs, so that the next run on the same folder does not decode it again.
        if (plan.Data.Format == DataFormat.ImageFolder && plan.Data.ImageCacheDirectory is null)
            plan = plan with { Data = plan.Data with { ImageCacheDirectory = Path.Combine(store.Directory, ImageCacheFolder) } };
        var phases = RunPhase.Of(plan);
        using IModelFamily family = plan.Data.Format == DataFormat.Text
            ? LanguageModelFamily.Load(plan, phases, device, cancel)
            : ClassifierFamily.Load(plan, device, cancel);

        TrainingCheckpointHeader? resumeHeader = null;
        Dictionary<string, byte[]>? resumeSections = null;
        if (checkpointPath is not null)
        {
            (resumeHeader, resumeSections) = TrainingCheckpoint.Read(checkpointPath);
            if (resumeHeader.DataFingerprint != family.DataFingerprint)
                throw new InvalidInputException($"run {resumeRunId}: the data has changed since the run started (fingerprint {family.DataFingerprint[..12]} ≠ {resumeHeader.DataFingerprint[..12]})");
            if (resumeHeader.PhaseIndex >= phases.Count)
                throw new InvalidInputException($"{checkpointPath}: checkpoint is at phase {resumeHeader.PhaseIndex}, but the recipe has {phases.Count} phases");
            family.Restore(checkpointPath, resumeHeader, resumeSections, cancel);
        }

        var storeTracker = resumeRunId is null ? store.StartRun(plan.Tracking.Experiment, plan.Name, ParentRunId) : store.ResumeRun(resumeRunId);
        if (resumeRunId is null)
        {
            foreach (var (key, value) in StartTags)
                storeTracker.SetTag(key, value);
        }
        using var tracker = TrackerDecorator is null ? storeTracker : TrackerDecorator(storeTracker);
        var logPath = Path.Combine(tracker.ArtifactDirectory, LogArtifact);
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        using var runLog = new LoggerConfiguration()
            .MinimumLevel.Debug()
            .WriteTo.Logger(logger)
            .WriteTo.File(new CompactJsonFormatter(), logPath)
            .CreateLogger();
        tracker.RegisterArtifact(LogArtifact);

        try
        {
            var energy = TrainingEnergy.Open(plan.Energy,
                resumeHeader is null ? null : (resumeHeader.EnergyMethod, resumeHeader.EnergyJoules), runLog);
            var run = new RunContext(plan, store, tracker, runLog, resumeHeader?.WallSeconds ?? [], progress) { Energy = energy };
            if (resumeHeader is null)
                RecordRunStart(run, family);
            else
                LogResume(runLog, tracker.RunId, resumeHeader, TrainingCheckpoint.PrepareResume(store, tracker, resumeHeader));
            int studentEpochs = RunPhases(run, family, phases, resumeHeader, resumeSections, cancel);
            family.Finish(run, studentEpochs, cancel);
            WriteCurves(tracker, runLog);
            tracker.End(RunStatus.Finished);
            runLog.Information("Run {RunId} finished", tracker.RunId);
            return tracker.RunId;
        }
        catch (OperationCanceledException)
        {
            runLog.Warning("Run {RunId} interrupted; resume it with: {ResumeCommand}", tracker.RunId, ResumeCommand(tracker.RunId));
            tracker.End(RunStatus.Killed, "interrupted by the user (Ctrl-C or SIGTERM)");
            throw;
        }
        catch (Exception e)
        {
            LogFailure(runLog, tracker.RunId, e, ResumeCommand);
            tracker.End(RunStatus.Failed, e.Message);
            throw;
        }
    }

    internal static void LogResume(ILogger log, string runId, TrainingCheckpointHeader checkpoint, long droppedPoints) =>
        log.Information("Resuming run {RunId} from {Checkpoint} (phase {Phase}, {Epochs} epochs done; {Dropped} metric points logged after it dropped, its epochs run again)",
            runId, CheckpointArtifact, checkpoint.PhaseName, checkpoint.Phase.EpochsCompleted, droppedPoints);

    /// <summary>A full disk is an expected failure whose message names the file: no stack trace, and how to go on.</summary>
    internal static void LogFailure(ILogger log, string runId, Exception e, Func<string, string> resumeCommand)
    {
        if (!DiskFull.Is(e))
        {
            log.Error(e, "Run {RunId} failed: {Message}", runId, e.Message);
            return;
        }
        log.Error("Run {RunId} failed: {Message}", runId, e.Message);
        log.Information("Free some space; then {ResumeCommand} continues the run from its last checkpoint, if it has one", resumeCommand(runId));
    }

    /// <summary>Runs the phases from the resumed one (or the first), each model's steps and epochs continuing across
    /// its phases; returns the epochs the student trained in all (its last metric step).</summary>
    private static int RunPhases(RunContext run, IModelFamily family, IReadOnlyList<RunPhase> phases, TrainingCheckpointHeader? resume,
        Dictionary<string, byte[]>? sections, CancellationToken cancel)
    {
        var (tracker, log) = (run.Tracker, run.Log);
        var checkpointPath = run.ArtifactPath(CheckpointArtifact);
        int startPhase = resume?.PhaseIndex ?? 0;
        run.Energy.RecordMethod(tracker);
        run.Energy.Start();
        var offsets = new Dictionary<string, (long Steps, int Epochs)>();
        if (resume is not null)
            offsets[phases[startPhase].Role] = (resume.Phase.StepOffset, resume.Phase.EpochOffset);

        for (int p = startPhase; p < phases.Count; p++)
        {
            var phase = phases[p];
            var (stepOffset, epochOffset) = offsets.GetValueOrDefault(phase.Role);
            var state = p == startPhase && resume is not null
                ? resume.Phase
                : new PhaseState { StepOffset = stepOffset, EpochOffset = epochOffset };

            family.PreparePhase(run, phase, p, cancel);
            if (phase.Stage.Epochs == 0)
            {
                // A calibration stage has no loss or optimiser; its checkpoint is always of a finished phase.
                if (!state.Finished)
                {
                    family.Calibrate(run, phase, state, cancel);
                    state = state with { Finished = true };
                    run.Energy.Lap(phase.Name);
                    SaveCheckpoint(run, tracker, family, p, phase, state, null, null);
                    tracker.RegisterArtifact(CheckpointArtifact);
                    tracker.SetTag($"stage.{phase.Name}.status", "done");
                }
                run.Energy.Lap(phase.Name);
                run.Energy.RecordPhase(tracker, phase.Name);
                offsets[phase.Role] = (state.StepOffset, state.EpochOffset);
                continue;
            }

            manual_seed(EpochTrainer.EpochSeed(run.Plan.Seed, p, -1));
            using var training = family.StartPhase(run, phase, p);
            using var optimizer = OptimizerFactory.Create(phase.Stage.Optimizer, training.Parameters);
            if (p == startPhase && sections is not null && !state.Finished)
            {
                ModelCheckpoint.LoadWeights(checkpointPath, training.Loss, sections[TrainingCheckpoint.LossSection]);
                TrainingCheckpoint.LoadOptimizer(checkpointPath, optimizer, sections[TrainingCheckpoint.OptimizerSection]);
            }

            long stepsPerEpoch = EpochTrainer.StepsPerEpoch(family.TrainCount, phase.Stage.BatchSize);
            if (!state.Finished)
            {
                log.Information("Stage {Stage}: {Epochs} epochs of {Steps} steps, {Model} ({Params:N0} parameters){Note}",
                    phase.Name, phase.Stage.Epochs, stepsPerEpoch, phase.Role, training.ModelParameters, training.Note);
                tracker.SetTag($"stage.{phase.Name}.status", "running");
                var clock = Stopwatch.StartNew();
                double wallBefore = run.Wall.GetValueOrDefault(phase.Role);
                using var phaseRun = PhaseRuns.Open(run.Store, tracker, phase.Name, p, phase.Role, phase.ParamPrefixes, run.Plan.Params);
                var plan = new EpochPlan(phase.Name, p, phase.Stage, phase.MetricPrefix, training.Hooks, training.Parameters);
                var phaseState = state;
                int phaseIndex = p;
                state = PhaseRuns.Track(phaseRun, () =>
                {
                    using var steps = training.Steps(phaseRun, phaseState, cancel);
                    return new EpochTrainer(run.Plan.Seed, phaseRun, run.Progress).Run(plan, steps, optimizer, phaseState,
                        afterEpoch: s =>
                        {
                            run.Wall[phase.Role] = wallBefore + clock.Elapsed.TotalSeconds;
                            run.Energy.Lap(phase.Name);
                            SaveCheckpoint(run, phaseRun, family, phaseIndex, phase, s, training.Loss, optimizer);
                            tracker.RegisterArtifact(CheckpointArtifact);
                        },
                        cancel);
                });
                tracker.SetTag($"stage.{phase.Name}.status", "done");
                tracker.SetTag($"stage.{phase.Name}.epochs", state.EpochsCompleted.ToString(CultureInfo.InvariantCulture));
            }
            family.EndPhase(run, phase, state.EpochOffset + state.EpochsCompleted);
            run.Energy.Lap(phase.Name);
            run.Energy.RecordPhase(tracker, phase.Name);
            offsets[phase.Role] = (state.StepOffset + state.EpochsCompleted * stepsPerEpoch, state.EpochOffset + state.EpochsCompleted);
        }
        run.Energy.RecordTotal(tracker, log);
        return offsets.GetValueOrDefault("student").Epochs;
    }

    /// <param name="tracker">Reaches every run that has buffered metrics: the run and, during a phase, its child run
    /// (whose metrics are committed before the checkpoint is written).</param>
    private static void SaveCheckpoint(RunContext run, ITracker tracker, IModelFamily family, int phaseIndex, RunPhase phase, PhaseState state,
        nn.Module? loss, optim.Optimizer? optimizer)
    {
        var parts = family.CheckpointParts();
        var sections = new Dictionary<string, byte[]>(parts.Student);
        if (loss is not null)
            sections[TrainingCheckpoint.LossSection] = ModelCheckpoint.ModelBytes(loss);
        if (optimizer is not null)
            sections[TrainingCheckpoint.OptimizerSection] = TrainingCheckpoint.OptimizerBytes(optimizer);
        foreach (var (name, bytes) in parts.Others)
            sections[name] = bytes;
        TrainingCheckpoint.Save(run.Store, tracker, run.ArtifactPath(CheckpointArtifact), new TrainingCheckpointHeader
        {
            RunId = run.Tracker.RunId,
            PhaseIndex = phaseIndex,
            PhaseName = phase.Name,
            Phase = state,
            DataFingerprint = family.DataFingerprint,
            Models = parts.Models,
            WallSeconds = new Dictionary<string, double>(run.Wall),
            EnergyMethod = run.Energy.Method,
            EnergyJoules = run.Energy.Method is null ? null : new Dictionary<string, double>(run.Energy.Joules),
        }, sections);
    }

    /// <summary>The resolved recipe, params, versions and seed of a new run, then the family's own tags and counts.</summary>
    private static void RecordRunStart(RunContext run, IModelFamily family)
    {
        var (plan, tracker) = (run.Plan, run.Tracker);
        AtomicFile.WriteText(run.ArtifactPath(RecipeArtifact), plan.ResolvedRecipe, "the recipe");
        tracker.RegisterArtifact(RecipeArtifact);
        tracker.LogParams(plan.Params);
        tracker.SetTag("distill.version", VersionInfo.Distill);
        tracker.SetTag("torch.version", VersionInfo.Torch);
        tracker.SetTag("dotnet.version", Environment.Version.ToString());
        tracker.SetTag("host", Environment.MachineName);
        tracker.SetTag("seed", plan.Seed.ToString(CultureInfo.InvariantCulture));
        tracker.SetTag("data.fingerprint", family.DataFingerprint);
        if (plan.Description is { Length: > 0 } description)
            tracker.SetTag("description", description);
        family.RecordStart(run);
    }

    /// <summary>Saves the loss/accuracy curves as an artifact; a plot that cannot be drawn is logged, not fatal.</summary>
    private void WriteCurves(ITracker tracker, ILogger log)
    {
        try
        {
            var path = Path.Combine(tracker.ArtifactDirectory, TrainingCurves.Artifact);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (TrainingCurves.Write(store, tracker.RunId, path))
                tracker.RegisterArtifact(TrainingCurves.Artifact);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.Warning(e, "Could not draw the training curves: {Message}", e.Message);
        }
    }
}
