namespace Distill.Recipes.Schema;

/// <summary>A teacher cache holds the teacher's outputs of each training sample as read, so it cannot serve augmented
/// views: with data.augment the teacher runs on every augmented batch. An explicit cache_teacher: true there is an
/// error at its line (it used to be ignored), and a stage that leaves cache_teacher to its default gets false, what it
/// does, so that the resolved recipe recorded with the run reads back without that error.</summary>
internal static class TeacherCacheChecks
{
    private const string Key = "cache_teacher";

    /// <param name="recorded">A run's recorded recipe: one recorded before this rule may say cache_teacher: true beside
    /// data.augment; it is read as it was written (the cache was never used there), so the run resumes.</param>
    public static void Run(MapValue root, bool recorded, List<RecipeError> errors)
    {
        if (root.Map("data")?.Find("augment") is null)
            return;
        var stages = root.List("stages").OfType<MapValue>().Select((stage, i) => (Stage: stage, Path: $"stages[{i}]")).ToList();
        if (root.Map("teacher")?.Map("train") is { } teacherTrain)
            stages.Insert(0, (teacherTrain, "teacher.train"));
        foreach (var (stage, path) in stages)
        {
            if (stage.Get(Key) is not ScalarValue { Raw: bool cache } value)
                continue;
            if (stage.IsDefault(Key))
                stage.Replace(Key, new ScalarValue(value.At, false));
            else if (cache && !recorded)
                errors.Add(value.At.Error(
                    $"{path}.{Key}: a teacher cache cannot serve augmented views: with data.augment the teacher runs on every augmented batch; remove {Key}: true (or set it to false)"));
        }
    }
}
