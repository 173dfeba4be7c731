using Distill.Core.Distillation;

namespace Distill.Recipes.Schema;

/// <summary>Binds a validated teacher.ensemble list to Core's <see cref="TeacherEnsembleOptions"/>; an ONNX member's keys
/// bind as teacher.onnx's do.</summary>
/// <remarks>Each member carries where its file was written: a member whose classes or input shape differ from the data's is
/// found when Core loads the file (a checkpoint's header, an ONNX file's graph) after the data is read, since the classes
/// and the sample shape come from the data (num_classes may be absent, image_shape reshapes CSV rows). Core's error then
/// starts with the member's file:line:column.</remarks>
internal static class TeacherEnsembleBinder
{
    public static TeacherEnsembleOptions Bind(ListValue members) => new()
    {
        Members = members.Items.Cast<MapValue>().Select(member =>
        {
            var file = member.Find("checkpoint") ?? member.Find("onnx")
                ?? throw new InvalidOperationException("validated ensemble member has neither checkpoint nor onnx");
            return new EnsembleMemberOptions
            {
                Checkpoint = member.Str("checkpoint"),
                Onnx = member.Str("onnx") is null ? null : OnnxTeacherBinder.Bind(member),
                Where = $"{file.Value.At.File}:{file.Value.At.Line}:{file.Value.At.Column}",
            };
        }).ToList(),
    };
}
