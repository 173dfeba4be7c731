using Distill.Core;
using Serilog.Core;
using Serilog.Events;

namespace Distill.Cli.Output;

/// <summary>Escapes control characters in the text values of log events (names, paths, server messages), so that
/// a log line cannot carry terminal escapes (<see cref="PrintableText"/>). The message templates are the program's own.</summary>
public sealed class PrintableLogValues : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        foreach (var (name, value) in logEvent.Properties.ToList())
        {
            if (value is ScalarValue { Value: string text } && PrintableText.Escape(text) is var escaped && escaped != text)
                logEvent.AddOrUpdateProperty(new LogEventProperty(name, new ScalarValue(escaped)));
        }
    }
}
