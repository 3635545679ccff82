using ModelOps.Cli;

return await ModelOpsCli.RunAsync(args, Console.Out, Console.Error);
