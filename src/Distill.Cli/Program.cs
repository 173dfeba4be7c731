return Distill.Cli.DistillCli.Run(args);
