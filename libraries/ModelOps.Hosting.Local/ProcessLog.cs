namespace ModelOps.Hosting.Local;

/// <summary>
/// Multiplexes the output of every resource onto one console, each line prefixed with its resource's name
/// in that resource's colour, and keeps the last lines of each for the dashboard and for failure reports.
/// </summary>
public class ProcessLog
{
    private static readonly string[] Palette =
        ["\u001b[36m", "\u001b[33m", "\u001b[35m", "\u001b[32m", "\u001b[34m", "\u001b[96m", "\u001b[93m", "\u001b[95m", "\u001b[92m", "\u001b[94m"];

    private const string Reset = "\u001b[0m";
    private const string Red = "\u001b[31m";
    private readonly Dictionary<string, string> _colours = [];
    private readonly Lock _lock = new();
    private readonly bool _colour;
    private readonly TextWriter _output;
    private int _width = 10;

    /// <summary>A sink writing to <paramref name="output"/>; colour unless the output is redirected or <c>NO_COLOR</c> is set.</summary>
    public ProcessLog(TextWriter? output = null, bool? colour = null)
    {
        _output = output ?? Console.Out;
        _colour = colour ?? (!Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null);
    }

    /// <summary>A sink that prints nothing (tests keep only the recent lines of each process).</summary>
    public static ProcessLog Silent { get; } = new SilentLogSink();

    /// <summary>Writes one line of <paramref name="resource"/>'s output.</summary>
    public virtual void Write(string resource, string line, bool isError = false)
    {
        lock (_lock)
        {
            if (!_colours.TryGetValue(resource, out var colour))
            {
                _colours[resource] = colour = Palette[_colours.Count % Palette.Length];
                _width = Math.Max(_width, resource.Length);
            }

            var prefix = resource.PadRight(_width);
            if (_colour)
            {
                _output.WriteLine(isError && LooksLikeError(line)
                    ? $"{colour}{prefix}{Reset} | {Red}{line}{Reset}"
                    : $"{colour}{prefix}{Reset} | {line}");
            }
            else
            {
                _output.WriteLine($"{prefix} | {line}");
            }
        }
    }

    /// <summary>Writes a line of the AppHost's own.</summary>
    public void Info(string line) => Write("apphost", line);

    private static bool LooksLikeError(string line) =>
        line.Contains("error", StringComparison.OrdinalIgnoreCase) || line.Contains("fail", StringComparison.OrdinalIgnoreCase);

    private sealed class SilentLogSink : ProcessLog
    {
        public SilentLogSink()
            : base(TextWriter.Null, colour: false)
        {
        }

        public override void Write(string resource, string line, bool isError = false)
        {
        }
    }
}
