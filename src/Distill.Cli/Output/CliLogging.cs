using Serilog;
using Serilog.Events;

namespace Distill.Cli.Output;

public static class CliLogging
{
    /// <summary>Readable lines on stderr, so that stdout carries only results (tables or --json).</summary>
    public static ILogger Create(bool verbose) => new LoggerConfiguration()
        .MinimumLevel.Is(verbose ? LogEventLevel.Debug : LogEventLevel.Information)
        .Enrich.With<PrintableLogValues>()
        .WriteTo.Console(
            outputTemplate: "{Timestamp:HH:mm:ss} {Level:u3} {Message:lj}{NewLine}{Exception}",
            standardErrorFromLevel: LogEventLevel.Verbose,
            formatProvider: System.Globalization.CultureInfo.InvariantCulture)
        .CreateLogger();
}
