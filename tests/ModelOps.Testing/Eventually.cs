using Xunit;

namespace ModelOps.Testing;

/// <summary>Waits for a condition that becomes true asynchronously (an event consumed, a row written).</summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes; returns whether it held.</summary>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        return await condition();
    }

    /// <summary>
    /// Calls <paramref name="call"/> until it throws <typeparamref name="TException"/> or <paramref name="timeout"/> passes;
    /// returns the exception, or fails the test when it never came.
    /// </summary>
    public static async Task<TException> ThrowsAsync<TException>(Func<Task> call, TimeSpan timeout) where TException : Exception
    {
        var deadline = DateTime.UtcNow + timeout;
        do
        {
            try
            {
                await call();
            }
            catch (TException exception)
            {
                return exception;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"No {typeof(TException).Name} within {timeout.TotalSeconds:0} s.");
    }
}
