namespace Distill.Recipes.Schema;

/// <summary>Rules of an ensemble teacher (teacher.ensemble): it stands alone in the teacher section, serves classifiers
/// only, and has no taps (no hint loss); each member is exactly one of a checkpoint and an ONNX file, and the ONNX keys
/// go with an ONNX member. What only the members' files know (their classes and input shape) is checked by Core when it
/// loads them, and reported at the member's line.</summary>
internal static class TeacherEnsembleChecks
{
    private static readonly string[] SingleTeacherKeys = ["model", "train", "checkpoint", "onnx", "outputs", "threads", "batch_size", "input"];
    private static readonly string[] OnnxKeys = ["outputs", "threads", "batch_size", "input"];

    /// <summary>True when the teacher is an ensemble (then the rules of a single teacher do not apply).</summary>
    public static bool Run(MapValue root, MapValue teacher, List<RecipeError> errors)
    {
        var entry = teacher.Find("ensemble");
        if (entry is null && !teacher.WasInvalid("ensemble"))
            return false;
        foreach (var key in SingleTeacherKeys)
        {
            if (teacher.Find(key) is { } single)
                errors.Add(single.KeyAt.Error($"teacher.{key}: not with teacher.ensemble; each member of an ensemble is a checkpoint or an ONNX file of its own"));
        }
        if (entry is null)
            return true;
        if (root.Map("data")?.Str("format") == "text")
        {
            errors.Add(entry.KeyAt.Error("teacher.ensemble: only for classifiers (image and tabular data); a language-model recipe (data.format: text) takes one teacher"));
            return true;
        }
        var stages = root.List("stages").OfType<MapValue>().ToList();
        for (int i = 0; i < stages.Count; i++)
        {
            if (stages[i].Map("loss")?.Find("hint") is { } hint)
                errors.Add(hint.KeyAt.Error($"stages[{i}].loss.hint: needs a teacher tap, but an ensemble teacher (teacher.ensemble) gives the mean of its members' logits and no taps; use loss.kd"));
        }
        var members = teacher.List("ensemble");
        for (int i = 0; i < members.Count; i++)
        {
            if (members[i] is MapValue member)
                CheckMember(member, $"teacher.ensemble[{i}]", errors);
        }
        return true;
    }

    private static void CheckMember(MapValue member, string path, List<RecipeError> errors)
    {
        var checkpoint = member.Find("checkpoint");
        var onnx = member.Find("onnx");
        if (checkpoint is not null && onnx is not null)
        {
            var second = checkpoint.KeyAt.Line > onnx.KeyAt.Line || checkpoint.KeyAt.Line == onnx.KeyAt.Line && checkpoint.KeyAt.Column > onnx.KeyAt.Column ? checkpoint : onnx;
            errors.Add(second.KeyAt.Error($"{path}: give either checkpoint (a model checkpoint) or onnx (an ONNX file), not both"));
        }
        else if (checkpoint is null && onnx is null && !member.WasInvalid("checkpoint") && !member.WasInvalid("onnx"))
        {
            errors.Add(member.At.Error($"{path}: needs checkpoint (a model checkpoint, e.g. runs:/<run>/models/teacher.ckpt) or onnx (an ONNX file)"));
        }
        if (onnx is null && !member.WasInvalid("onnx"))
        {
            foreach (var key in OnnxKeys)
            {
                if (member.Find(key) is { } entry)
                    errors.Add(entry.KeyAt.Error($"{path}.{key}: only for an ONNX member (onnx)"));
            }
            return;
        }
        OnnxTeacherChecks.CheckPreprocess(member, path, errors);
    }
}
