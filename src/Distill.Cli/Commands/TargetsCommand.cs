using System.CommandLine;
using System.Text.Json;
using Distill.Core.Export.Targets;
using Distill.Recipes.Targets;
using Spectre.Console;

namespace Distill.Cli.Commands;

/// <summary>`distill targets list`: the hardware target profiles found, and where each came from.</summary>
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
                    format = e.Profile is null ? null : e.Profile.Format.ToString().ToLowerInvariant(),
                    precision = e.Profile is null ? null : ModelCard.Precision(e.Profile.Precision),
                    weights = e.Profile is { IsInteger: true } p ? p.Weights.ToString() : null,
                    activations = e.Profile is { IsInteger: true } q ? q.Activations.ToString() : null,
                    calibration = e.Profile is { IsInteger: true } c ? ModelCard.ObserverName(c.Calibration) : null,
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
                    table.AddRow(Markup.Escape(e.Name), "[red]invalid[/]", Markup.Escape(e.Error ?? ""), "", "", Markup.Escape(e.Path));
                    continue;
                }
                table.AddRow(
                    Markup.Escape(e.Name),
                    $"{p.Format.ToString().ToLowerInvariant()} {ModelCard.Precision(p.Precision)}",
                    p.IsInteger ? Markup.Escape(p.Weights.ToString()) : "-",
                    p.IsInteger ? Markup.Escape(p.Activations.ToString()) : "-",
                    p.IsInteger ? ModelCard.ObserverName(p.Calibration) : "-",
                    Markup.Escape($"{e.Origin}: {e.Path}"));
            }
            AnsiConsole.Console.Write(table);
            Console.Out.WriteLine($"{entries.Count} target(s); use one with: distill export <run-id|checkpoint> --target <name>");
            return ExitCodes.Success;
        });
        return new Command("targets", "Hardware target profiles for distill export.") { list };
    }
}
