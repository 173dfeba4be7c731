using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Distillation;

namespace Distill.Core.Training;

/// <summary>What a run records of an ensemble teacher: at the start each member's file and its SHA-256 (tags
/// teacher.member{i} and teacher.member{i}.sha256; teacher.ensemble holds the number of members) and the parameters,
/// at the end the test figures of the ensemble (teacher/test_acc, teacher/test_loss: what the student learned from)
/// and of each member (teacher/member{i}/…). The files stay where they are: nothing is copied into the run.</summary>
internal static class EnsembleResults
{
    public const string CountTag = "teacher.ensemble";

    public static string MemberTag(int index) => "teacher.member" + index.ToString(CultureInfo.InvariantCulture);

    public static string MemberPrefix(int index) => "teacher/member" + index.ToString(CultureInfo.InvariantCulture) + "/";

    public static void RecordStart(RunContext run, TeacherEnsemble ensemble)
    {
        var tracker = run.Tracker;
        tracker.SetTag(CountTag, ensemble.Members.Count.ToString(CultureInfo.InvariantCulture));
        for (int i = 0; i < ensemble.Members.Count; i++)
        {
            var member = ensemble.Members[i];
            tracker.SetTag(MemberTag(i), member.Path);
            tracker.SetTag(MemberTag(i) + ".sha256", DataFile.Sha256Hex(member.Path));
            if (member.ParameterCount is { } count)
                tracker.LogMetric(MemberPrefix(i) + "params", count, 0);
        }
        // The ensemble's parameters are its members' together; an ONNX member's count is not known, and then neither is the sum.
        if (ensemble.Members.All(m => m.ParameterCount is not null))
            tracker.LogMetric("teacher/params", ensemble.Members.Sum(m => m.ParameterCount!.Value), 0);
    }

    /// <summary>Test accuracy and loss of each member and of the ensemble (the mean of the members' logits), and the
    /// size of the members' files.</summary>
    public static void Record(RunContext run, DataSplits data, TeacherEnsemble ensemble, CancellationToken cancel)
    {
        var (tracker, log) = (run.Tracker, run.Log);
        long bytes = 0;
        for (int i = 0; i < ensemble.Members.Count; i++)
        {
            var member = ensemble.Members[i];
            var test = TeacherEvaluation.Evaluate(member.Teacher, data.Test, ensemble.Device, cancel);
            long size = new FileInfo(member.Path).Length;
            bytes += size;
            tracker.LogMetric(MemberPrefix(i) + "test_acc", test.Accuracy, 0);
            tracker.LogMetric(MemberPrefix(i) + "test_loss", test.Loss, 0);
            tracker.LogMetric(MemberPrefix(i) + "size_bytes", size, 0);
            log.Information("Teacher member {Index} ({Member}): test accuracy {Accuracy:P2}, test loss {Loss:F4}",
                i, member.Teacher.Description, test.Accuracy, test.Loss);
        }
        var ensembleTest = TeacherEvaluation.Evaluate(ensemble, data.Test, ensemble.Device, cancel);
        tracker.LogMetric("teacher/test_acc", ensembleTest.Accuracy, 0);
        tracker.LogMetric("teacher/test_loss", ensembleTest.Loss, 0);
        tracker.LogMetric("teacher/size_bytes", bytes, 0);
        log.Information("Teacher (ensemble of {Count}, mean logits): test accuracy {Accuracy:P2}, test loss {Loss:F4}",
            ensemble.Members.Count, ensembleTest.Accuracy, ensembleTest.Loss);
    }
}
