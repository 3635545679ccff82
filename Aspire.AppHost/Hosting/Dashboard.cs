using System.Net;
using System.Text;

namespace ModelOps.AppHost.Hosting;

/// <summary>A self-refreshing page listing every resource, its state, endpoints and processes, with links to its logs.</summary>
internal static class Dashboard
{
    public static string Render(IReadOnlyList<Resource> resources, int port)
    {
        var html = new StringBuilder();
        html.Append("""
            <!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
            <title>ModelOps</title><style>
            body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
            td,th{border-bottom:1px solid #ddd;padding:.4rem .8rem;text-align:left;vertical-align:top}
            .Running{color:#0a7d28}.Failed{color:#c00}.Starting,.Pending{color:#a60}.Stopped{color:#666}
            code{font-size:.9em}</style></head><body><h1>ModelOps</h1>
            <table><tr><th>resource</th><th>state</th><th>endpoints</th><th>pids</th><th>logs</th></tr>
            """);
        foreach (var resource in resources)
        {
            var name = WebUtility.HtmlEncode(resource.Name);
            var endpoints = string.Join("<br>", resource.Endpoints.Select(e =>
                $"{WebUtility.HtmlEncode(e.Key)}: <code>{WebUtility.HtmlEncode(e.Value)}</code>"));
            var pids = string.Join(", ", resource.Processes.Select(p => p.Id));
            html.Append($"<tr><td>{name}</td><td class=\"{resource.State}\">{resource.State}</td><td>{endpoints}</td>")
                .Append($"<td>{pids}</td><td><a href=\"/logs/{name}\">logs</a></td></tr>");
        }

        html.Append($"""
            </table><p>Tokens: <code>GET http://127.0.0.1:{port}/connect/token?role=pipeline&amp;sub=alice</code>,
            or the ready-made ones in the state folder's <code>tokens/</code>.</p></body></html>
            """);
        return html.ToString();
    }
}
