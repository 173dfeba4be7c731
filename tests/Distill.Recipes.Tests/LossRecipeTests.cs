using Distill.Core.Distillation;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>The loss section is built from Core's loss-term registry (<see cref="Losses"/>): its keys, ranges, defaults
/// and docs are the terms', the binder reads each term's keys through its entry, and a misspelt term is refused at its
/// line. <see cref="WithTeacher"/> is <see cref="Recipes.Minimal"/> with a teacher checkpoint (lines 7-9): the stage
/// mapping starts at 11:5, so appended lines are 12, 13, ….</summary>
public class LossRecipeTests
{
    private static readonly string WithTeacher =
        Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  checkpoint: fashion-mnist/t10k-labels-idx1-ubyte.gz\nstages:");

    [Fact]
    public void A_misspelt_loss_term_is_refused_at_its_line_with_the_closest_name()
    {
        // Line 12 "    loss:", line 13 "      kdd: …": the key starts at column 7.
        AssertAt(Single(WithTeacher + "\n    loss:\n      kdd: { temperature: 2 }"), 13, 7,
            "stages[0].loss: unknown key 'kdd' (did you mean 'kd'?); allowed keys: kd, teacher_cache, dkd, hint, hints, attention, label_smoothing");
    }

    [Fact]
    public void A_term_s_option_out_of_its_registry_range_is_refused_at_the_value()
    {
        // "      kd: { temperature: " is 25 characters: the value starts at 13:26.
        AssertAt(Single(WithTeacher + "\n    loss:\n      kd: { temperature: 0 }"), 13, 26, "stages[0].loss.kd.temperature: must be > 0, got 0");
        // "      label_smoothing: " is 23 characters.
        AssertAt(Single(WithTeacher + "\n    loss:\n      label_smoothing: 1"), 13, 24, "stages[0].loss.label_smoothing: must be in [0, 1), got 1");
    }

    [Fact]
    public void Each_term_binds_its_own_keys_into_its_option_record_in_registry_order()
    {
        var loss = Load(WithTeacher + """

                loss:
                  hint: { student_tap: hidden0, teacher_tap: hidden1, weight: 0.5 }
                  label_smoothing: 0.2
                  kd: { alpha: 0.3 }
            """).Stages[0].Loss;
        // Written hint, label_smoothing, kd; bound in registry order, kd's temperature its record's default (4).
        Assert.Equal(
            [
                new CrossEntropyOptions { LabelSmoothing = 0.2 },
                new KdOptions { Temperature = 4, Alpha = 0.3 },
                new HintLossOptions { Hints = [new HintOptions { StudentTap = "hidden0", TeacherTap = "hidden1", Weight = 0.5 }] },
            ],
            loss.Terms);
        Assert.Equal(new KdOptions().Temperature, loss.Get<KdOptions>()!.Temperature);
    }

    [Fact]
    public void A_teacher_s_stage_refuses_every_term_that_needs_a_teacher()
    {
        foreach (string key in Losses.KeysNeeding(LossNeeds.Teacher))
        {
            // "    loss: { " is 12 characters: the key starts at 10:13.
            var yaml = Minimal.Replace("stages:", $"teacher:\n  model: {{ arch: mlp }}\n  train:\n    loss: {{ {key}: {{}} }}\nstages:");
            AssertAt(Single(yaml), 10, 13, $"teacher.train.loss: '{key}' is not allowed here: the teacher is trained with plain cross-entropy");
        }
    }

    [Fact]
    public void Dkd_binds_after_kd_and_without_a_teacher_is_refused_at_its_key()
    {
        var loss = Load(WithTeacher + "\n    loss:\n      dkd: { beta: 2, standardize: true }\n      kd: { alpha: 0.5 }").Stages[0].Loss;
        Assert.Equal(
            [
                new CrossEntropyOptions(),
                new KdOptions { Alpha = 0.5 },
                new DkdOptions { Alpha = 1, Beta = 2, Temperature = 4, Standardize = true },
            ],
            loss.Terms);
        // Minimal has no teacher; line 9 "    loss:", line 10 "      dkd: …" (the key at column 7).
        AssertAt(Single(Minimal + "\n    loss:\n      dkd: {}"), 10, 7, "stages[0].loss.dkd: needs a teacher; add a teacher section or remove dkd");
    }

    /// <summary>`distill recipes show --defaults` (and so docs/recipes.md) names every registered term with its doc, in the
    /// order the loss folds them, and every term's keys with their own docs.</summary>
    [Fact]
    public void The_key_reference_lists_every_term_in_fold_order()
    {
        var lines = RecipeSchema.DescribeDefaults().ReplaceLineEndings("\n").Split('\n');
        string loss = lines.Single(l => l.StartsWith("stages[].loss ", StringComparison.Ordinal));
        var at = Losses.Registry.Entries.Select(e => loss.IndexOf($"{e.Name}: {e.Doc}", StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(-1, at);
        Assert.Equal(at.Order(), at);
        foreach (var (_, key) in Losses.Keys)
            Assert.Contains(lines, l => l.StartsWith($"stages[].loss.{key.Key} ", StringComparison.Ordinal) && l.EndsWith(key.Doc, StringComparison.Ordinal));
    }
}
