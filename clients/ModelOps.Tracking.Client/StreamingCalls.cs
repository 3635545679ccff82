using Grpc.Core;

namespace ModelOps.Tracking.Client;

/// <summary>
/// Writing to a client stream that the server may end first. When the service refuses a stream part-way (a bad
/// chunk, a size limit) it answers at once and stops reading; a write issued after that point can wait forever
/// for a request body nobody consumes. These helpers stop writing as soon as the answer arrives, so that the
/// caller can read it from <c>ResponseAsync</c>. A write can also fail outright once the service has answered: the
/// server resets the HTTP/2 stream it stopped reading (<c>HttpProtocolException</c>, an <c>IOException</c>, or, when
/// the reset aborts the request, an <c>HttpRequestException</c> around it); that too means "the call ended", and
/// <c>ResponseAsync</c> carries the status.
/// </summary>
public static class StreamingCalls
{
    /// <summary>Writes <paramref name="message"/>; false when the call ended first (await <c>ResponseAsync</c> for why).</summary>
    public static Task<bool> TryWriteAsync<TRequest, TResponse>(
        this AsyncClientStreamingCall<TRequest, TResponse> call, TRequest message, CancellationToken cancellationToken = default) =>
        RaceAsync(call.ResponseAsync, () => call.RequestStream.WriteAsync(message, cancellationToken));

    /// <summary>Ends the request stream; false when the call ended first.</summary>
    public static Task<bool> TryCompleteAsync<TRequest, TResponse>(this AsyncClientStreamingCall<TRequest, TResponse> call) =>
        RaceAsync(call.ResponseAsync, call.RequestStream.CompleteAsync);

    private static async Task<bool> RaceAsync(Task response, Func<Task> send)
    {
        if (response.IsCompleted)
        {
            return false;
        }

        Task sending;
        try
        {
            sending = send();
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or IOException or HttpRequestException)
        {
            return false;
        }

        if (await Task.WhenAny(sending, response) != sending)
        {
            // The answer came first: the send may never finish. Observe its fault, if it has one, and move on.
            _ = sending.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return false;
        }

        try
        {
            await sending;
            return true;
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or IOException or HttpRequestException)
        {
            return false;
        }
    }
}
