using Grpc.Core;

namespace ModelOps.Tracking.Client;

/// <summary>
/// Writing to a client stream that the server may end first. When the service refuses a stream part-way (a bad
/// chunk, a size limit) it answers at once and stops reading; a write issued after that point can wait forever
/// for a request body nobody consumes. These helpers stop writing as soon as the answer arrives, so that the
/// caller can read it from <c>ResponseAsync</c>.
/// </summary>
public static class StreamingCalls
{
    /// <summary>Writes <paramref name="message"/>; false when the call ended first (await <c>ResponseAsync</c> for why).</summary>
    public static async Task<bool> TryWriteAsync<TRequest, TResponse>(
        this AsyncClientStreamingCall<TRequest, TResponse> call, TRequest message, CancellationToken cancellationToken = default)
    {
        if (call.ResponseAsync.IsCompleted)
        {
            return false;
        }

        var write = call.RequestStream.WriteAsync(message, cancellationToken);
        if (await Task.WhenAny(write, call.ResponseAsync) != write)
        {
            // The answer came first: the write may never finish. Observe its fault, if it has one, and move on.
            _ = write.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return false;
        }

        try
        {
            await write;
            return true;
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Ends the request stream; false when the call ended first.</summary>
    public static async Task<bool> TryCompleteAsync<TRequest, TResponse>(this AsyncClientStreamingCall<TRequest, TResponse> call)
    {
        if (call.ResponseAsync.IsCompleted)
        {
            return false;
        }

        var complete = call.RequestStream.CompleteAsync();
        if (await Task.WhenAny(complete, call.ResponseAsync) != complete)
        {
            _ = complete.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return false;
        }

        try
        {
            await complete;
            return true;
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            return false;
        }
    }
}
