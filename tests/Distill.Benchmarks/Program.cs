using System.Diagnostics;
using System.Globalization;
using Distill.Benchmarks;
using Distill.Core;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

const string Usage = """
    usage: dotnet run --project tests/Distill.Benchmarks -c Release -- <overhead|teacher-cache|all> [options]
      --reps N        timed epochs per side after one warm-up each (default 3)
      --out FILE      also write the results as JSON to FILE
      --data DIR      folder of the Fashion-MNIST subset (default: data/fashion-mnist-subset above the working directory)
      --threads N     torch intra-op threads (default: TorchSharp's own choice)
    """;

string? which = null, outPath = null, dataDirectory = null;
int repetitions = 3;
int? threads = null;
try
{
    for (int i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new InvalidInputException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--reps":
                repetitions = PositiveInt("--reps", Value());
                break;
            case "--out":
                outPath = Value();
                break;
            case "--data":
                dataDirectory = Value();
                break;
            case "--threads":
                threads = PositiveInt("--threads", Value());
                break;
            case "-h" or "--help":
                Console.WriteLine(Usage);
                return 0;
            case "overhead" or "teacher-cache" or "all" when which is null:
                which = args[i];
                break;
            default:
                throw new InvalidInputException($"unexpected argument '{args[i]}'");
        }
    }
    if (which is null)
        throw new InvalidInputException("say which benchmark to run: overhead, teacher-cache or all");
}
catch (InvalidInputException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}

if (threads is int n)
    set_num_threads(n);

var total = Stopwatch.StartNew();
void Log(string message) => Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] {message}");

var machine = MachineInfo.Capture();
using var context = BenchContext.Create(dataDirectory ?? BenchContext.FindDataDirectory());
Log($"data loaded: {context.Data.Train.Count} train, {context.Data.Validation.Count} validation; torch threads {get_num_threads()}");

var overhead = which is "overhead" or "all" ? OverheadBenchmark.Run(context, repetitions, Log) : null;
var teacherCache = which is "teacher-cache" or "all" ? TeacherCacheBenchmark.Run(context, repetitions, Log) : null;
machine.LoadAverageAtEnd = MachineInfo.LoadAverage();

var report = new BenchReport(
    which,
    machine,
    Path.GetRelativePath(Directory.GetCurrentDirectory(), context.DataDirectory),
    context.Data.Train.Count,
    context.Data.Validation.Count,
    $"teacher cnn [32,64] hidden [128] dropout 0.2 (untrained, eval); student cnn [16,24] depthwise [false,true] hidden []; " +
    $"KD T={BenchContext.Temperature} alpha={BenchContext.Alpha}, Adam lr {BenchContext.LearningRate} constant, batch {BenchContext.BatchSize}, " +
    $"{context.StepsPerEpoch} steps/epoch; seed {BenchContext.Seed}; tracker: RunStore in a temp folder",
    overhead,
    teacherCache);
report.WriteTable(Console.Out);
if (outPath is not null)
{
    report.WriteJson(outPath);
    Log($"JSON written to {Path.GetFullPath(outPath)}");
}
Log($"done in {total.Elapsed.TotalSeconds:F0} s");
return 0;

static int PositiveInt(string option, string text) =>
    int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
        ? value
        : throw new InvalidInputException($"{option} must be a positive integer, got '{text}'");
