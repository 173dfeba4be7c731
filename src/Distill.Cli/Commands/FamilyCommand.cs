using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Data;
using Distill.Runtime;

namespace Distill.Cli.Commands;

/// <summary>`distill family pick|run`: the model-family runtime (Distill.Runtime) from the command line.</summary>
public static class FamilyCommand
{
    private static readonly Argument<string> ManifestArgument = new("manifest")
    {
        Description = "A family's manifest.json (distill export <sweep> --family --target <profile> writes exports/<target>/family/manifest.json)",
    };

    private static readonly Option<string?> Power = new("--power") { Description = "Take this power source instead of reading sysfs: ac or battery" };
    private static readonly Option<int?> Battery = new("--battery") { Description = "With --power battery: the battery level in percent" };
    private static readonly Option<string?> Thermal = new("--thermal") { Description = "Take this thermal state instead of reading sysfs: nominal, fair, serious or critical" };
    private static readonly Option<double?> Budget = new("--budget-ms") { Description = "On AC power: the latency budget at batch 1, in place of the policy's ac_budget_ms" };
    private static readonly Option<string> Sysfs = new("--sysfs")
    {
        Description = "Where sysfs is (power_supply and thermal are read under <sysfs>/class/)",
        DefaultValueFactory = _ => "/sys",
    };

    private static readonly Option<string> Data = new("--data") { Description = "Recipe whose test split is the stream of inputs", Required = true };
    private static readonly Option<string?> StateFile = new("--state-file")
    {
        Description = "A device-state JSON file read before every input ({\"power\": \"battery\", \"battery_percent\": 15, \"thermal\": \"nominal\"}); rewrite it while the stream runs. Default: sysfs",
    };
    private static readonly Option<string?> States = new("--states")
    {
        Description = "A file of device states, one JSON object per line: input i is served in state i (the last one repeats); for repeatable demos and tests",
    };
    private static readonly Option<int> Count = new("--count") { Description = "How many test samples to run, one at a time", DefaultValueFactory = _ => 100 };
    private static readonly Option<int> DelayMs = new("--delay-ms") { Description = "Pause between inputs, so that a state file can change during the stream", DefaultValueFactory = _ => 0 };

    public static Command Create()
    {
        var family = new Command("family", "Pick and run variants of a model family as the device state changes (the Distill.Runtime library).");
        var pick = new Command("pick", "Print the variant the family's policy picks for a device state (given, or read from sysfs) and why.")
        {
            ManifestArgument, Power, Battery, Thermal, Budget, Sysfs,
        };
        pick.SetAction(Pick);
        var run = new Command("run", "Run a recipe's test samples one by one through the family while the device state changes; print which variant served each.")
        {
            ManifestArgument, Data, StateFile, States, Count, DelayMs, Budget, Sysfs,
        };
        run.SetAction(Run);
        var onnxFile = new Argument<string>("onnx");
        var measureMemory = new Command("measure-memory", "Print how many bytes resident memory grows at its peak while this fresh process loads an ONNX file and runs batch 64.")
        {
            onnxFile,
        };
        measureMemory.Hidden = true;
        measureMemory.SetAction(parse =>
        {
            var peak = Core.Export.Families.PeakMemory.OfOnnxRun(parse.GetValue(onnxFile)!, 64, threads: 1);
            Console.Out.WriteLine(peak is long bytes ? bytes.ToString(CultureInfo.InvariantCulture) : "unknown");
            return ExitCodes.Success;
        });
        family.Subcommands.Add(pick);
        family.Subcommands.Add(run);
        family.Subcommands.Add(measureMemory);
        return family;
    }

    /// <summary>The peak memory of an ONNX file's run, measured by `distill family measure-memory` in a fresh process
    /// (see PeakMemory); null when it cannot be measured there.</summary>
    internal static long? PeakMemoryInChild(string onnx)
    {
        var program = Sweep.TrialCommand.Program();
        var info = new System.Diagnostics.ProcessStartInfo(program[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in program.Skip(1).Concat(["family", "measure-memory", onnx]))
            info.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new RunFailedException($"measuring the peak memory of {onnx} failed: {stderr.Result.Trim()}");
        return long.TryParse(output, NumberStyles.None, CultureInfo.InvariantCulture, out long bytes) ? bytes : null;
    }

    private static int Pick(ParseResult parse)
    {
        var manifest = Load(parse);
        var state = GivenState(parse) ?? new SysfsDeviceState(parse.GetValue(Sysfs)!).Read();
        var choice = Choose(() => manifest.Policy.Pick(manifest, state, parse.GetValue(Budget)));
        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(new JsonObject
            {
                ["variant"] = choice.Variant.Name,
                ["file"] = manifest.PathOf(choice.Variant),
                ["reason"] = choice.Reason,
                ["state"] = state.ToString(),
            }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }
        Console.Out.WriteLine($"variant: {choice.Variant.Name} ({manifest.PathOf(choice.Variant)})");
        Console.Out.WriteLine($"state:   {state}");
        Console.Out.WriteLine($"why:     {choice.Reason}");
        return ExitCodes.Success;
    }

    private static int Run(ParseResult parse)
    {
        var manifest = Load(parse);
        if (parse.GetValue(StateFile) is not null && parse.GetValue(States) is not null)
            throw new InvalidInputException("give --state-file or --states, not both");
        int count = parse.GetValue(Count);
        if (count < 1)
            throw new InvalidInputException($"--count must be at least 1, got {count}");
        var readState = StateSource(parse);
        var variant = manifest.Variants[0];
        if (variant.ModelCard is null)
            throw new InvalidInputException($"{manifest.PathOf(variant)}: the family has no model card for it; the input's preprocessing is unknown");
        string cardPath = Path.Combine(manifest.Directory, variant.ModelCard);
        var input = ClassifierData.InputOf(cardPath, JsonNode.Parse(File.ReadAllText(cardPath))!.AsObject());
        var (options, baseDirectory, seed) = ClassifierData.For(parse, parse.GetValue(Data)!, input);
        using var data = DatasetLoader.Load(options, baseDirectory, seed);
        var features = data.Test.Features.contiguous().data<float>().ToArray();
        var labels = data.Test.LabelArray();
        int length = manifest.Input.SampleLength;
        if (features.Length / Math.Max(1, labels.Length) != length)
            throw new InvalidInputException($"{parse.GetValue(Data)}: samples have {features.Length / Math.Max(1, labels.Length)} values, the family takes {length}");
        count = Math.Min(count, labels.Length);

        using var runner = new FamilyRunner(manifest, readState, parse.GetValue(Budget));
        var served = new Dictionary<string, (int Inputs, int Correct)>();
        string? previous = null;
        for (int i = 0; i < count; i++)
        {
            if (i > 0 && parse.GetValue(DelayMs) > 0)
                Thread.Sleep(parse.GetValue(DelayMs));
            var output = Choose(() => runner.Run(features[(i * length)..((i + 1) * length)], 1));
            int predicted = Array.IndexOf(output.Logits, output.Logits.Max());
            bool correct = predicted == labels[i];
            string name = output.Choice.Variant.Name;
            var (inputs, right) = served.GetValueOrDefault(name);
            served[name] = (inputs + 1, right + (correct ? 1 : 0));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{i}\t{name}\tpredicted {predicted}\tlabel {labels[i]}{(name != previous ? $"\t{output.Choice.Reason}" : "")}"));
            previous = name;
        }
        foreach (var (name, (inputs, right)) in served)
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: served {inputs} input(s), {right} correct"));
        return ExitCodes.Success;
    }

    private static FamilyManifest Load(ParseResult parse)
    {
        try
        {
            return FamilyManifest.Load(parse.GetValue(ManifestArgument)!);
        }
        catch (ManifestException e)
        {
            throw new InvalidInputException(e.Message);
        }
        catch (FileNotFoundException)
        {
            throw new InvalidInputException($"{parse.GetValue(ManifestArgument)}: no such file");
        }
    }

    private static T Choose<T>(Func<T> choose)
    {
        try
        {
            return choose();
        }
        catch (PolicyException e)
        {
            throw new InvalidInputException($"the policy allows no variant: {e.Message}");
        }
    }

    /// <summary>The state from --power/--battery/--thermal; null when none is given (read sysfs).</summary>
    private static DeviceState? GivenState(ParseResult parse)
    {
        string? power = parse.GetValue(Power), thermal = parse.GetValue(Thermal);
        int? battery = parse.GetValue(Battery);
        if (power is null && thermal is null && battery is null)
            return null;
        var source = power switch
        {
            null or "ac" => PowerSource.Ac,
            "battery" => PowerSource.Battery,
            _ => throw new InvalidInputException($"--power: expected ac or battery, got '{power}'"),
        };
        if (battery is not null && source != PowerSource.Battery)
            throw new InvalidInputException("--battery needs --power battery");
        if (battery is < 0 or > 100)
            throw new InvalidInputException($"--battery: expected a percentage 0 to 100, got {battery}");
        var heat = thermal is null ? ThermalState.Nominal
            : Enum.TryParse<ThermalState>(thermal, ignoreCase: true, out var t) && !int.TryParse(thermal, out _) ? t
            : throw new InvalidInputException($"--thermal: expected nominal, fair, serious or critical, got '{thermal}'");
        return new DeviceState(source, battery, heat);
    }

    private static Func<DeviceState> StateSource(ParseResult parse)
    {
        if (parse.GetValue(StateFile) is { } file)
            return () => Read(file, () => DeviceStateFile.Read(file));
        if (parse.GetValue(States) is { } statesFile)
        {
            var lines = File.ReadAllLines(statesFile).Where(l => l.Trim().Length > 0).ToList();
            if (lines.Count == 0)
                throw new InvalidInputException($"{statesFile}: no device states");
            var states = lines.Select((line, i) => Read($"{statesFile}:{i + 1}", () => DeviceStateFile.Parse(line, $"{statesFile}:{i + 1}"))).ToList();
            int next = 0;
            return () => states[Math.Min(next++, states.Count - 1)];
        }
        var sysfs = new SysfsDeviceState(parse.GetValue(Sysfs)!);
        return sysfs.Read;
    }

    private static DeviceState Read(string where, Func<DeviceState> read)
    {
        try
        {
            return read();
        }
        catch (ManifestException e)
        {
            throw new InvalidInputException(e.Message);
        }
        catch (FileNotFoundException)
        {
            throw new InvalidInputException($"{where}: no such file");
        }
    }
}
