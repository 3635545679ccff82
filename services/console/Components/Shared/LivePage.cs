using Microsoft.AspNetCore.Components;
using ModelOps.Console.Data;
using ModelOps.Console.Live;

namespace ModelOps.Console.Components.Shared;

/// <summary>
/// A page that stays current while it is open: it reloads when an event it <see cref="Cares"/> about is announced, and
/// every <see cref="ConsoleApi.Refresh"/> in any case, then pushes what changed to its browser. Reloads never overlap.
/// </summary>
public abstract class LivePage : ComponentBase, IDisposable
{
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private Timer? _timer;

    /// <summary>The console's calls.</summary>
    [Inject] protected ConsoleApi Api { get; set; } = null!;

    [Inject] private LiveEvents Events { get; set; } = null!;

    /// <summary>Whether <paramref name="live"/> may change what the page shows.</summary>
    protected abstract bool Cares(LiveEvent live);

    /// <summary>Reads again what the page shows; true when something changed.</summary>
    protected abstract Task<bool> ReloadAsync();

    /// <inheritdoc />
    protected override void OnInitialized()
    {
        Events.Arrived += OnArrived;
        _timer = new Timer(_ => _ = RefreshAsync(), null, Api.Refresh, Api.Refresh);
    }

    private void OnArrived(LiveEvent live)
    {
        if (Cares(live))
        {
            _ = RefreshAsync();
        }
    }

    private Task RefreshAsync() => InvokeAsync(async () =>
    {
        if (!await _reloading.WaitAsync(0))
        {
            return;
        }

        try
        {
            if (await ReloadAsync())
            {
                StateHasChanged();
            }
        }
        catch (Grpc.Core.RpcException)
        {
            // A service away for a moment: the next event or tick tries again.
        }
        finally
        {
            _reloading.Release();
        }
    });

    /// <inheritdoc />
    public void Dispose()
    {
        // The semaphore is left to the collector: a reload still in flight releases it after the page is gone.
        Events.Arrived -= OnArrived;
        _timer?.Dispose();
        GC.SuppressFinalize(this);
    }
}
