using System.Globalization;

namespace Distill.Core.Data;

/// <summary>The labels of one file, and how to name the place of label i in it ("index 12", "line 14").</summary>
internal sealed record LabelFile(string Path, long[] Labels, Func<int, string> Where);

/// <summary>Decides how many classes a data set has and refuses labels that do not fit, naming the file and the
/// first bad sample. Declared: every label must be below it, and a class may have no sample. Inferred: the
/// largest training label + 1, and every class below it needs a training sample, so that a stray label (an
/// IDX byte of 200 among ten classes) cannot silently make a 201-class problem.</summary>
internal static class ClassLabels
{
    /// <param name="test">Null when the test split is cut from the training file.</param>
    public static int Count(LabelFile train, LabelFile? test, int? declared)
    {
        if (declared is int classes)
        {
            OutsideDeclared(train, classes);
            if (test is not null)
                OutsideDeclared(test, classes);
            return classes;
        }

        int inferred = (int)train.Labels.Max() + 1;
        if (inferred < 2)
            throw new InvalidInputException($"{train.Path}: all training labels are 0; classification needs at least two classes");
        var present = new bool[inferred];
        foreach (long label in train.Labels)
            present[label] = true;
        int missing = Array.IndexOf(present, false);
        if (missing >= 0)
        {
            int lastMissing = missing;
            while (lastMissing + 1 < inferred && !present[lastMissing + 1])
                lastMissing++;
            int at = Array.FindIndex(train.Labels, l => l > missing);
            string classesText = lastMissing == missing
                ? $"class {missing} has"
                : $"classes {missing}..{lastMissing} have";
            throw new InvalidInputException(
                $"{train.Path}: label {train.Labels[at]} at {train.Where(at)} skips classes: {classesText} no training sample. " +
                "Labels must number the classes 0..K-1; if some classes really have no sample, declare the class count (data.num_classes)");
        }
        if (test is not null && Array.FindIndex(test.Labels, l => l >= inferred) is int beyond and >= 0)
            throw new InvalidInputException(
                $"{test.Path}: test label {test.Labels[beyond]} at {test.Where(beyond)} is outside the training labels' classes 0..{inferred - 1} ({train.Path})");
        return inferred;
    }

    private static void OutsideDeclared(LabelFile file, int classes)
    {
        int at = Array.FindIndex(file.Labels, l => l >= classes);
        if (at >= 0)
            throw new InvalidInputException(
                $"{file.Path}: label {file.Labels[at]} at {file.Where(at)} is outside the {classes.ToString(CultureInfo.InvariantCulture)} declared classes 0..{classes - 1}");
    }
}
