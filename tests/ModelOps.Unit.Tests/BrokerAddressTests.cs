using ModelOps.ServiceDefaults.Messaging;

namespace ModelOps.Unit.Tests.Foundation;

public sealed class BrokerAddressTests
{
    [Theory]
    [InlineData("amqp://u:p%40ss@127.0.0.1:5673/", "127.0.0.1", 5673, "/", "u", "p@ss")]
    [InlineData("amqp://u:p@broker/tracking", "broker", 5672, "tracking", "u", "p")]
    [InlineData("amqp://broker:1234/a%2Fb", "broker", 1234, "a/b", "guest", "guest")]
    public void ParsesAmqpUris(string uri, string host, int port, string virtualHost, string user, string password) =>
        Assert.Equal(new BrokerAddress(host, (ushort)port, virtualHost, user, password), BrokerAddress.Parse(uri));

    [Theory]
    [InlineData("host=broker")]
    [InlineData("http://broker/")]
    public void RejectsWhatIsNotAnAmqpUri(string value) => Assert.Throws<FormatException>(() => BrokerAddress.Parse(value));
}
