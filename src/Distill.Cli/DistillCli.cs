using System.CommandLine;
using System.Runtime.InteropServices;
using Distill.Cli.Commands;
using Distill.Cli.Output;
using Distill.Core;

namespace Distill.Cli;

public static class DistillCli
{
    public static int Run(string[] args)
    {
        KillAtLineWriter.InstallIfRequested();
        var root = new RootCommand("Distill: distil, prune, quantise and export small models for edge devices.")
        {
            GlobalOptions.Store,
            GlobalOptions.Verbose,
            GlobalOptions.Json,
            GlobalOptions.TrackingUri,
            GlobalOptions.Threads,
        };
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(AnalyzeCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(CalibrateCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(TargetsCommand.Create());
        root.Subcommands.Add(RunsCommand.Create());
        root.Subcommands.Add(ExperimentsCommand.Create());
        root.Subcommands.Add(RecipesCommand.Create());
        root.Subcommands.Add(Commands.Sweep.SweepCommand.Create());
        root.Subcommands.Add(FamilyCommand.Create());
        root.Subcommands.Add(DataCommand.Create());

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
                Console.Error.WriteLine($"error: {PrintableText.EscapeLines(error.Message)}");
            foreach (string suggestion in CommandTypos.Suggestions(parse))
                Console.Error.WriteLine(suggestion);
            Console.Error.WriteLine("Run 'distill --help' for usage.");
            return ExitCodes.BadInput;
        }

        RedirectedOutput.KeepFullWidth(Spectre.Console.AnsiConsole.Console, Console.IsOutputRedirected);
        bool verbose = parse.GetValue(GlobalOptions.Verbose);
        if (parse.GetValue(GlobalOptions.Threads) is { } threads)
        {
            if (threads < 1)
            {
                Console.Error.WriteLine($"error: --threads must be at least 1, got {threads}");
                return ExitCodes.BadInput;
            }
            TorchSharp.torch.set_num_threads(threads);
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (InvalidInputException e)
        {
            Report("error", e, verbose);
            return ExitCodes.BadInput;
        }
        catch (DiskFullException e)
        {
            Report("failed", e, verbose); // the message names the file or database and says the disk is full
            return ExitCodes.RunFailed;
        }
        catch (RunFailedException e)
        {
            Report("run failed", e, verbose);
            return ExitCodes.RunFailed;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("interrupted");
            return ExitCodes.Interrupted;
        }
        catch (Exception e)
        {
            Report("failed", e, verbose);
            return ExitCodes.RunFailed;
        }
    }

    private static void Report(string what, Exception e, bool verbose)
    {
        Console.Error.WriteLine($"{what}: {PrintableText.EscapeLines(e.Message)}");
        if (verbose)
            Console.Error.WriteLine(PrintableText.EscapeLines(e.ToString()));
    }

    /// <summary>Ctrl-C and SIGTERM cancel the token instead of killing the process, so the run can be
    /// marked KILLED and its last checkpoint kept.</summary>
    public static CancellationTokenSource CancelOnSignals()
    {
        var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        var registration = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cts.Cancel();
        });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => registration.Dispose();
        return cts;
    }
}
