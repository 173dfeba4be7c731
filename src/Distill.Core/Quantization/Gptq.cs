namespace Distill.Core.Quantization;

/// <summary>GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
/// Transformers"): quantises a linear layer's weight one input column at a time and spreads each column's rounding
/// error over the columns not yet quantised, weighted by the inverse Hessian of the layer's squared output error,
/// H = 2/n · Σ x xᵀ over the calibration inputs x. Groups take their scale and zero point from the weights as they
/// are when the group's first column is reached.</summary>
public static class Gptq
{
    /// <summary>Quantises <paramref name="weight"/> [rows, columns] (torch Linear layout, columns = inputs) given the
    /// Hessian <paramref name="hessian"/> [columns, columns].</summary>
    /// <param name="dampFraction">Added to the diagonal as a fraction of its mean, so the Cholesky factorisation
    /// exists when some inputs are (nearly) collinear; raised tenfold, up to three times, if it still fails.</param>
    public static GroupQuantizedMatrix Quantize(float[] weight, int rows, int columns, double[] hessian, int groupSize, bool symmetric,
        double dampFraction = 0.01)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(hessian);
        if (weight.Length != rows * columns || hessian.Length != columns * columns)
            throw new ArgumentException($"weight [{rows}, {columns}] needs a Hessian [{columns}, {columns}]");
        if (columns % groupSize != 0)
            throw new ArgumentException($"group size {groupSize} does not divide {columns} inputs", nameof(groupSize));

        var w = Array.ConvertAll(weight, v => (double)v);
        var h = (double[])hessian.Clone();
        for (int i = 0; i < columns; i++)
        {
            // An input that is always 0 carries no information: its weights do not matter, set them to 0.
            if (h[i * columns + i] == 0)
            {
                h[i * columns + i] = 1;
                for (int r = 0; r < rows; r++)
                    w[r * columns + i] = 0;
            }
        }
        double[] u = InverseCholeskyUpper(h, columns, dampFraction);

        var builder = new GroupQuantizedMatrix.Builder(rows, columns, groupSize, symmetric);
        var error = new double[rows];
        for (int i = 0; i < columns; i++)
        {
            if (i % groupSize == 0)
                builder.FitGroup(w, i);
            var quantized = builder.QuantizeColumn(w, i);
            double d = u[i * columns + i];
            for (int r = 0; r < rows; r++)
                error[r] = (w[r * columns + i] - quantized[r]) / d;
            for (int r = 0; r < rows; r++)
            {
                double e = error[r];
                int row = r * columns;
                for (int j = i + 1; j < columns; j++)
                    w[row + j] -= e * u[i * columns + j];
            }
        }
        return builder.Build();
    }

    /// <summary>The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U) after damping H's diagonal.</summary>
    private static double[] InverseCholeskyUpper(double[] h, int n, double dampFraction)
    {
        double mean = 0;
        for (int i = 0; i < n; i++)
            mean += h[i * n + i];
        mean /= n;
        for (int attempt = 0; attempt < 4; attempt++, dampFraction *= 10)
        {
            var damped = (double[])h.Clone();
            for (int i = 0; i < n; i++)
                damped[i * n + i] += dampFraction * mean;
            if (Cholesky(damped, n) is not { } l)
                continue;
            var inverse = InverseFromCholesky(l, n);
            if (Cholesky(inverse, n) is not { } l2)
                continue;
            var upper = new double[n * n];
            for (int i = 0; i < n; i++)
            {
                for (int j = i; j < n; j++)
                    upper[i * n + j] = l2[j * n + i];
            }
            return upper;
        }
        throw new InvalidOperationException("GPTQ: the calibration Hessian is not positive definite even with 10x the damping");
    }

    /// <summary>Lower-triangular L with L Lᵀ = <paramref name="a"/>; null when a is not positive definite.</summary>
    private static double[]? Cholesky(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double sum = a[j * n + j];
            for (int k = 0; k < j; k++)
                sum -= l[j * n + k] * l[j * n + k];
            if (!(sum > 0))
                return null;
            double diagonal = Math.Sqrt(sum);
            l[j * n + j] = diagonal;
            for (int i = j + 1; i < n; i++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++)
                    s -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = s / diagonal;
            }
        }
        return l;
    }

    /// <summary>(L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹ from the lower-triangular <paramref name="l"/>.</summary>
    private static double[] InverseFromCholesky(double[] l, int n)
    {
        var inv = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            inv[i * n + i] = 1 / l[i * n + i];
            for (int j = 0; j < i; j++)
            {
                double s = 0;
                for (int k = j; k < i; k++)
                    s -= l[i * n + k] * inv[k * n + j];
                inv[i * n + j] = s / l[i * n + i];
            }
        }
        var result = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int k = i; k < n; k++)
                    s += inv[k * n + i] * inv[k * n + j];
                result[i * n + j] = s;
                result[j * n + i] = s;
            }
        }
        return result;
    }
}
