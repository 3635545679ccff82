namespace ModelOps.Alerting.Delivery;

/// <summary>Wakes this replica's deliverer when a flush has just decided notifications, rather than at its next poll.</summary>
public sealed class DeliveryWake
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    /// <summary>There is something to send.</summary>
    public void Signal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    /// <summary>Waits for a signal or <paramref name="timeout"/>.</summary>
    public Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}
