using System.Diagnostics;

namespace Distill.Core.Export.Onnx;

/// <summary>Runs the reference ONNX checker (the Python onnx package, e.g. Debian's python3-onnx) with
/// full_check, which also runs shape inference, on a file.</summary>
public static class OnnxChecker
{
    private const string CheckScript = "import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)";

    /// <summary>Interpreters tried in order: Debian's python3-onnx installs for the system interpreter,
    /// which need not be the first python3 on PATH (pyenv, virtual environments).</summary>
    private static readonly string[] Interpreters = ["python3", "/usr/bin/python3"];

    private static readonly Lazy<string?> Python = new(FindPython);

    /// <summary>Throws <see cref="InvalidInputException"/> with the checker's message when the file is
    /// invalid, and <see cref="InvalidOperationException"/> when no python3 with the onnx package exists.</summary>
    /// <param name="cancel">Kills the checker and throws <see cref="OperationCanceledException"/> when it fires.</param>
    public static void Check(string path, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new InvalidInputException($"ONNX model '{path}' does not exist.");
        }
        string python = Python.Value ?? throw new InvalidOperationException(
            "the ONNX checker needs python3 with the onnx package (Debian: apt-get install python3-onnx; elsewhere: pip install onnx).");
        var (exitCode, output) = RunPython(python, cancel, "-c", CheckScript, Path.GetFullPath(path));
        if (exitCode != 0)
        {
            throw new InvalidInputException($"ONNX checker rejects '{path}': {LastError(output)}");
        }
    }

    private static string? FindPython()
    {
        foreach (string interpreter in Interpreters)
        {
            try
            {
                if (RunPython(interpreter, CancellationToken.None, "-c", "import onnx").ExitCode == 0)
                {
                    return interpreter;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed under this name: try the next.
            }
        }
        return null;
    }

    private static (int ExitCode, string Output) RunPython(string python, CancellationToken cancel, params string[] arguments)
    {
        var start = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {python}");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        ChildProcess.WaitForExit(process, cancel);
        return (process.ExitCode, (stderr.Result + stdout.Result).Trim());
    }

    /// <summary>The exception line of a Python traceback (the checker's message), or everything.</summary>
    private static string LastError(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        int first = Array.FindIndex(lines, l => l.StartsWith("onnx.onnx_cpp2py_export.checker.ValidationError", StringComparison.Ordinal) || l.Contains("Error:", StringComparison.Ordinal));
        return first < 0 ? output : string.Join(" ", lines[first..]);
    }
}
