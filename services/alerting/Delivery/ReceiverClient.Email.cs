using System.Net.Sockets;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using ModelOps.Alerting.Domain;

namespace ModelOps.Alerting.Delivery;

/// <summary>
/// E-mail over SMTP through MailKit. A reply in the 4xx range, a dropped connection or a server out of reach is retried;
/// a 5xx reply is final (the message or a recipient is refused), as is a refused login's fix, which a person makes —
/// yet a login is retried too, since its password may live in a file being rotated. The delivery log's status is the
/// SMTP reply code.
/// </summary>
public sealed partial class ReceiverClient
{
    private static MimeMessage EmailMessage(EmailConfig email, byte[] payload)
    {
        var stored = JsonNode.Parse(payload)!;
        var message = new MimeMessage
        {
            Subject = stored["subject"]!.GetValue<string>(),
            MessageId = stored["message_id"]!.GetValue<string>(),
            Body = new BodyBuilder { TextBody = stored["text"]!.GetValue<string>(), HtmlBody = stored["html"]!.GetValue<string>() }.ToMessageBody(),
        };
        message.From.Add(MailboxAddress.Parse(email.From));
        message.To.AddRange(InternetAddressList.Parse(email.To));
        message.References.Add(stored["references"]!.GetValue<string>());
        foreach (var (name, value) in email.Headers)
        {
            message.Headers.Add(name, value);
        }

        return message;
    }

    private static async Task<SendResult> SendEmailAsync(EmailConfig email, string? password, byte[] payload, CancellationToken cancellationToken)
    {
        var message = EmailMessage(email, payload);
        using var smtp = new SmtpClient { LocalDomain = email.Hello };
        try
        {
            var security = email.Port == 465 ? SecureSocketOptions.SslOnConnect : email.RequireTls ? SecureSocketOptions.StartTls : SecureSocketOptions.None;
            await smtp.ConnectAsync(email.Host, email.Port, security, cancellationToken);
            if (email.Username is { } user)
            {
                await smtp.AuthenticateAsync(user, password!, cancellationToken);
            }

            await smtp.SendAsync(message, cancellationToken);
            await smtp.DisconnectAsync(quit: true, cancellationToken);
            return new SendResult(true, false, 250, null, "");
        }
        catch (SmtpCommandException e)
        {
            var code = (int)e.StatusCode;
            return new SendResult(false, code is >= 400 and < 500, code, null, $"the mail server answered {code} to {e.ErrorCode}");
        }
        catch (AuthenticationException)
        {
            return new SendResult(false, true, null, null, "the mail server refused the login");
        }
        catch (Exception e) when (e is SmtpProtocolException or ServiceNotConnectedException or SslHandshakeException or IOException or SocketException)
        {
            // The message of a transport failure may carry the address; only its kind is kept.
            return new SendResult(false, true, null, null, $"the mail server could not be reached or dropped the connection ({e.GetType().Name})");
        }
    }
}
