using System.Globalization;
using System.Text;
using Distill.Core.Models;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>One prunable layer: its size, how many of its weights are zero, and whether a prune section targets it.</summary>
public sealed record LayerSparsityRow(string Layer, long[] Shape, long Parameters, long Zeros, bool Pruned)
{
    public double Sparsity => Parameters == 0 ? 0 : (double)Zeros / Parameters;
}

/// <summary>Sparsity counted from the weights themselves (not from the masks), so the numbers say what a
/// saved or exported model really holds.</summary>
public static class SparsityReport
{
    public const string SparsityMetric = "student/sparsity";
    public const string NonZeroMetric = "student/params_nonzero";
    /// <summary>The dense parameter count of a student before a shrink removed its pruned channels.</summary>
    public const string BeforeShrinkMetric = "student/params_before_shrink";

    /// <summary>Non-zero parameters of a final model (teacher/params_nonzero, student/params_nonzero), beside its
    /// dense count {role}/params.</summary>
    public static string NonZeroKey(string role) => $"{role}/params_nonzero";

    public static IReadOnlyList<LayerSparsityRow> Rows(ZooModel model, MaskSet masks)
    {
        var weights = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        return PrunableLayers.Of(model)
            .Select(l => new LayerSparsityRow(l.Name, l.Shape, l.Count, Zeros(weights[l.Name]), masks.Targets.Contains(l.Name)))
            .ToList();
    }

    /// <summary>Fraction of the targeted (pruned) layers' weights that are zero; null when nothing is targeted.</summary>
    public static double? Sparsity(ZooModel model, MaskSet masks)
    {
        var pruned = Rows(model, masks).Where(r => r.Pruned).ToList();
        long total = pruned.Sum(r => r.Parameters);
        return total == 0 ? null : (double)pruned.Sum(r => r.Zeros) / total;
    }

    /// <summary>Trainable parameters that are not zero.</summary>
    public static long NonZeroParameters(ZooModel model) =>
        model.parameters().Where(p => p.requires_grad).Sum(p => p.numel() - Zeros(p));

    /// <summary>The epoch and final metrics: sparsity of the pruned layers and non-zero parameters.</summary>
    public static Dictionary<string, double> Metrics(ZooModel model, MaskSet masks)
    {
        var metrics = new Dictionary<string, double>();
        if (Sparsity(model, masks) is { } sparsity)
        {
            metrics[SparsityMetric] = sparsity;
            metrics[NonZeroMetric] = NonZeroParameters(model);
        }
        return metrics;
    }

    public static string Csv(IEnumerable<LayerSparsityRow> rows)
    {
        var text = new StringBuilder("layer,shape,params,zeros,sparsity,pruned\n");
        foreach (var row in rows)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{row.Layer},{string.Join("x", row.Shape)},{row.Parameters},{row.Zeros},{row.Sparsity:F6},{(row.Pruned ? "yes" : "no")}\n");
        }
        return text.ToString();
    }

    private static long Zeros(Tensor weight)
    {
        using var noGrad = no_grad();
        using var nonZero = weight.count_nonzero();
        return weight.numel() - nonZero.item<long>();
    }
}
