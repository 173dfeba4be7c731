using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>Arm NN compute backends: the portable reference implementation, or the NEON-accelerated one
/// (Arm machines only: Debian's x86-64 build has CpuRef alone).</summary>
public enum ArmNnBackend { CpuRef, CpuAcc }

/// <summary>Runs a .tflite file in Arm NN through its Python bindings (Debian 12's python3-pyarmnn 20.08,
/// which provides the TFLite parser). Each <see cref="Run"/> starts one Python process that loads the network
/// and runs every sample in batches of the model's fixed batch size.</summary>
public sealed class ArmNnRunner : IExportedModelRunner
{
    private const string ScriptResource = "Distill.Core.Export.Tflite.armnn_run.py";
    private const int ImportFailedExitCode = 3;
    private const string ProgressPrefix = "progress ";

    private readonly string _workDir;
    private readonly string _script;

    /// <param name="python">The interpreter to use; by default Debian's /usr/bin/python3 when it exists
    /// (pyarmnn is installed for the system interpreter, which a pyenv or venv python3 on PATH cannot
    /// import), else python3 on PATH.</param>
    /// <exception cref="InvalidInputException">The model file does not exist.</exception>
    /// <exception cref="RunFailedException">Python or Arm NN is missing, or Arm NN cannot load the model.</exception>
    /// <param name="cancel">Kills the Arm NN process that loads the model when it fires.</param>
    public ArmNnRunner(string modelPath, ArmNnBackend backend = ArmNnBackend.CpuRef, string? python = null, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        ModelPath = Path.GetFullPath(modelPath);
        if (!File.Exists(ModelPath))
        {
            throw new InvalidInputException($"{ModelPath}: no such TFLite model file.");
        }
        Backend = backend;
        Python = python ?? DefaultPython;
        _workDir = Path.Combine(Path.GetTempPath(), $"distill-armnn-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_workDir);
        _script = Path.Combine(_workDir, "armnn_run.py");
        using (var resource = typeof(ArmNnRunner).Assembly.GetManifestResourceStream(ScriptResource)
            ?? throw new InvalidOperationException($"embedded resource {ScriptResource} is missing"))
        using (var file = File.Create(_script))
        {
            resource.CopyTo(file);
        }
        try
        {
            // Loading the network once here reports a missing runtime or an unparsable model early.
            using var info = RunScript([], cancel);
            var root = info.RootElement;
            InputShape = root.GetProperty("input").GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            InputIsInteger = root.GetProperty("input").GetProperty("int8").GetBoolean();
            OutputIsInteger = root.GetProperty("output").GetProperty("int8").GetBoolean();
        }
        catch
        {
            Directory.Delete(_workDir, recursive: true);
            throw;
        }
    }

    public static string DefaultPython => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    public string ModelPath { get; }
    public ArmNnBackend Backend { get; }
    public string Python { get; }

    /// <summary>The model's input tensor shape as Arm NN parsed it (NHWC or [batch, features]).</summary>
    public long[] InputShape { get; }
    public bool InputIsInteger { get; }
    public bool OutputIsInteger { get; }

    /// <summary>Time Arm NN spent running the samples of the last <see cref="Run"/> (without Python start-up
    /// and network loading).</summary>
    public TimeSpan LastInferenceTime { get; private set; }

    /// <param name="cancel">Kills the Arm NN process and throws <see cref="OperationCanceledException"/> when it fires.</param>
    public Tensor Run(Tensor input, CancellationToken cancel = default) => Run(input, progress: null, cancel);

    /// <param name="progress">Told how many samples have run, every half second or so (Arm NN's reference backend takes
    /// tens of milliseconds per sample).</param>
    /// <param name="cancel">Kills the Arm NN process and throws <see cref="OperationCanceledException"/> when it fires.</param>
    public Tensor Run(Tensor input, IProgress<long>? progress, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() < 2 || input.shape[0] == 0)
        {
            throw new ArgumentException($"input must be a non-empty batch [N, ...], got [{string.Join(",", input.shape)}]", nameof(input));
        }
        string id = Guid.NewGuid().ToString("N");
        string inputPath = Path.Combine(_workDir, $"input-{id}.f32");
        string outputPath = Path.Combine(_workDir, $"output-{id}.f32");
        try
        {
            float[] values;
            using (var scope = NewDisposeScope())
            {
                values = input.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
            }
            File.WriteAllBytes(inputPath, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
            string shape = string.Join(",", input.shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
            using var info = RunScript([inputPath, shape, outputPath], cancel, progress);
            LastInferenceTime = TimeSpan.FromSeconds(info.RootElement.GetProperty("inference_seconds").GetDouble());

            var logits = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(outputPath)).ToArray();
            long n = input.shape[0];
            return tensor(logits, [n, logits.Length / n]);
        }
        finally
        {
            File.Delete(inputPath);
            File.Delete(outputPath);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_workDir))
        {
            Directory.Delete(_workDir, recursive: true);
        }
    }

    private JsonDocument RunScript(string[] arguments, CancellationToken cancel, IProgress<long>? progress = null)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(_script);
        start.ArgumentList.Add(ModelPath);
        start.ArgumentList.Add(Backend.ToString());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new RunFailedException($"Arm NN runner: could not start '{Python}'.");
        }
        catch (Win32Exception e)
        {
            throw new RunFailedException(
                $"Arm NN runner: cannot start '{Python}' ({e.Message}). Running TFLite models in Arm NN needs python3 with Debian's python3-pyarmnn (apt-get install python3-pyarmnn).", e);
        }
        using (process)
        {
            // The script reports "progress <done> <total>" lines on stderr; everything else there is an error message.
            var errorText = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                    return;
                if (e.Data.StartsWith(ProgressPrefix, StringComparison.Ordinal)
                    && long.TryParse(e.Data[ProgressPrefix.Length..].Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long done))
                    progress?.Report(done);
                else
                    lock (errorText)
                        errorText.AppendLine(e.Data);
            };
            process.BeginErrorReadLine();
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            ChildProcess.WaitForExit(process, cancel);
            string output = stdout.GetAwaiter().GetResult();
            string errors;
            lock (errorText)
                errors = errorText.ToString().Trim();
            if (process.ExitCode == ImportFailedExitCode)
            {
                throw new RunFailedException(
                    $"Arm NN is not available to {Python}: {LastLines(errors)}. Install Debian's python3-pyarmnn (apt-get install python3-pyarmnn).");
            }
            if (process.ExitCode != 0)
            {
                throw new RunFailedException($"Arm NN ({Backend}) failed on {ModelPath} (exit code {process.ExitCode}): {LastLines(errors)}");
            }
            string? json = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith('{'));
            return json is null
                ? throw new RunFailedException($"Arm NN runner printed no result for {ModelPath}: {LastLines(output)}")
                : JsonDocument.Parse(json);
        }
    }

    /// <summary>The end of a Python traceback is the part that says what went wrong.</summary>
    private static string LastLines(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("Your ArmNN library instance does not support", StringComparison.Ordinal))
            .ToArray();
        return lines.Length == 0 ? "(no message)" : string.Join(" | ", lines.TakeLast(3));
    }
}
