using ModelOps.Testing;
using SmtpServer.Protocol;

namespace ModelOps.Alerting.Tests;

/// <summary>The e-mail integration against a local SMTP server that requires a login.</summary>
public sealed partial class AlertingServiceTests
{
    [Fact(Timeout = 120_000)]
    public async Task AGroupIsMailedOnceAfterATransientRefusalWithItsAlertsEscapedAndItsResolutionThreadsWithIt()
    {
        // The server's first answer is 451 (try later): the message is sent again, once.
        _smtp.Refuse((SmtpReplyCode)451);
        var firing = Firing("email", "ModelDrift", "credit", ("feature", "<b>income</b>"));
        await PostAsync(_prometheus, firing, Firing("email", "ModelDrift", "credit", ("feature", "age")));
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(_smtp.Messages.Count >= 1), TimeSpan.FromSeconds(20)),
            $"no mail after {_smtp.Attempts} attempt(s)");
        var message = _smtp.Messages[0];
        Assert.Equal(2, _smtp.Attempts);
        Assert.Equal("[FIRING:2] ModelDrift model=credit", message.Subject);
        Assert.Equal("\"ModelOps\" <alerts@modelops.test>", message.From.ToString());
        Assert.Equal(["ml@example.test", "oncall@example.test"], message.To.Mailboxes.Select(m => m.Address));
        Assert.Equal("ml", message.Headers["X-Team"]);
        Assert.Contains("feature: <b>income</b>", message.TextBody, StringComparison.Ordinal);
        // A label's markup is shown, never rendered.
        Assert.Contains("&lt;b&gt;income&lt;/b&gt;", message.HtmlBody, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>income</b>", message.HtmlBody, StringComparison.Ordinal);

        // Resolved: a second mail, in the same thread.
        await PostAsync(_prometheus, Resolved("email", "ModelDrift", "credit", ("feature", "<b>income</b>")), Resolved("email", "ModelDrift", "credit", ("feature", "age")));
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(_smtp.Messages.Count >= 2), TimeSpan.FromSeconds(20)));
        var resolved = _smtp.Messages[1];
        Assert.Equal("[RESOLVED] ModelDrift model=credit", resolved.Subject);
        Assert.Equal(message.References.Single(), resolved.References.Single());
        Assert.NotEqual(message.MessageId, resolved.MessageId);
        var log = await DeliveriesAsync("mail");
        Assert.Equal([("sent", 2, 250), ("sent", 1, 250)], log.Select(d => (d.Status, d.Attempts, d.LastStatus ?? 0)));

        // A permanent refusal (550) is dead-lettered with the server's code and without the password.
        _smtp.Refuse((SmtpReplyCode)550);
        await PostAsync(_prometheus, Firing("email", "ModelDrift", "fraud"));
        Assert.True(await Eventually.HoldsAsync(async () => (await DeliveriesAsync("mail")).Any(d => d.Status == "dead"), TimeSpan.FromSeconds(20)));
        var dead = (await DeliveriesAsync("mail")).Single(d => d.Status == "dead");
        Assert.Equal((1, 550), (dead.Attempts, dead.LastStatus));
        Assert.Contains("550", dead.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", dead.LastError, StringComparison.Ordinal);
    }
}
