using System.CommandLine;
using System.Text.Json;
using Distill.Cli.Output;
using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Text;
using Distill.Recipes.Targets;
using Spectre.Console;

namespace Distill.Cli.Commands;

/// <summary>`distill targets list`: the hardware target profiles found, where each came from, and the formats a profile
/// can name (<see cref="ExportBackends"/>).</summary>
public static class TargetsCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List the target profiles in ./configs/targets and those shipped with distill.");
        list.SetAction(parse =>
        {
            var entries = TargetCatalog.List();
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(entries.Select(e => new
                {
                    name = e.Name,
                    path = e.Path,
                    origin = e.Origin,
                    format = e.Profile?.Format.Name,
                    precision = e.Profile is null ? null : ModelCard.Precision(e.Profile.Precision),
                    weights = e.Profile is { IsInteger: true } p ? p.Weights.ToString() : e.Profile is { Precision: ExportPrecision.Int4 } i ? Int4(i) : null,
                    activations = e.Profile is { IsInteger: true } q ? (q.QuantizesActivations ? q.Activations.ToString() : "float") : null,
                    calibration = e.Profile is { QuantizesActivations: true } c ? ModelCard.ObserverName(c.Calibration) : null,
                    description = e.Profile?.Description,
                    error = e.Error,
                }), new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            var table = new Table().Border(TableBorder.Rounded)
                .AddColumn("target").AddColumn("format").AddColumn("weights").AddColumn("activations").AddColumn("calibration").AddColumn("from");
            foreach (var e in entries)
            {
                if (e.Profile is not { } p)
                {
                    table.AddRow(ConsoleText.Markup(e.Name), "[red]invalid[/]", "", "", "", e.Origin);
                    continue;
                }
                table.AddRow(
                    ConsoleText.Markup(e.Name),
                    $"{p.Format.Name} {ModelCard.Precision(p.Precision)}",
                    p.IsInteger ? Short(p.Weights) : p.Precision == ExportPrecision.Int4 ? Int4(p) : "-",
                    p.QuantizesActivations ? Short(p.Activations) : p.IsInteger ? "float" : "-",
                    p.QuantizesActivations ? ModelCard.ObserverName(p.Calibration) : "-",
                    e.Origin);
            }
            AnsiConsole.Console.Write(table);
            foreach (var e in entries.Where(e => e.Error is not null))
                Console.Out.WriteLine($"invalid profile {PrintableText.EscapeLines(e.Error!)}");
            foreach (var (folder, origin) in TargetCatalog.SearchFolders())
                Console.Out.WriteLine($"{origin}: {folder}");
            foreach (var backend in ExportBackends.Registry.Entries)
                Console.Out.WriteLine($"format {backend.Name}: {backend.Doc}");
            Console.Out.WriteLine($"{entries.Count} target(s); use one with: distill export <run-id|checkpoint> --target <name>");
            return ExitCodes.Success;
        });
        return new Command("targets", "Hardware target profiles for distill export.") { list };
    }

    private static string Int4(TargetProfile p) =>
        $"int4 groups of {p.Int4.GroupSize} {(p.Int4.Symmetric ? "sym" : "asym")} {LmInt4Weights.MethodName(p.Int4.Method)}" +
        (p.Int4.Auto is { } auto ? $", fp32 layers by {auto.Describe()}" : "");

    private static string Short(Distill.Core.Quantization.QuantScheme s) =>
        $"{(s.Signed ? "int" : "uint")}{s.Bits} {(s.Symmetric ? "sym" : "asym")} {(s.PerChannel ? "per-channel" : "per-tensor")}";
}
