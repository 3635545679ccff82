using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace ModelOps.Mlflow.Wire;

/// <summary>
/// MLflow's JSON as its clients write it. Names are snake_case and case-sensitive; unknown fields are ignored. The
/// dialects differ in scalars: Python sends int64s as numbers and NaN as <c>"NaN"</c>, Java int64s as strings, R every
/// scalar as a string (bools as <c>"TRUE"</c>), so numbers, named floating-point literals and bools are read from strings
/// too, and a string field takes a number. Responses use numbers for int64s, strings for ids, and <c>"NaN"</c> /
/// <c>"Infinity"</c> for those metric values.
/// </summary>
public static class MlflowJson
{
    /// <summary>Largest JSON request body: MLflow's own log-batch bound (1 MB) with room for UTF-8 and escapes.</summary>
    public const int MaxBodyBytes = 4 * 1024 * 1024;

    /// <summary>Deepest nesting of a request body (MLflow's messages nest three levels).</summary>
    public const int MaxDepth = 16;

    /// <summary>The serializer options of every request and response.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.General)
    {
        MaxDepth = MaxDepth,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new LenientBoolean(), new LenientString(), new LenientStringList() },
    };

    /// <summary>
    /// The request message: for GET, the query string (a repeated key is a list); otherwise the JSON body, decoded twice
    /// when it is a JSON string (older clients double-encode), <c>{}</c> when empty, and the query string when a DELETE
    /// sends no body. A body over <see cref="MaxBodyBytes"/> is refused before it is parsed.
    /// </summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken) where T : new()
    {
        if (HttpMethods.IsGet(request.Method))
        {
            return Bind<T>(FromQuery(request.Query));
        }

        var body = await ReadBodyAsync(request, cancellationToken);
        var content = body.AsSpan().Trim(" \t\r\n"u8);
        if (content.Length == 0)
        {
            return HttpMethods.IsDelete(request.Method) ? Bind<T>(FromQuery(request.Query)) : new T();
        }

        if (content[0] == (byte)'"')
        {
            Validate(content);
            body = Encoding.UTF8.GetBytes(JsonSerializer.Deserialize<string>(content, Options) ?? "");
            content = body.AsSpan().Trim(" \t\r\n"u8);
            if (content.Length == 0)
            {
                return new T();
            }
        }

        if (content[0] != (byte)'{')
        {
            Validate(content);
            throw MlflowError.InvalidParameter("The request body must be a JSON object.");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(content, Options) ?? new T();
        }
        catch (JsonException exception)
        {
            // Read again only when it failed: a syntax error and a field of the wrong type get their own messages.
            Validate(content);
            throw Mismatch<T>(exception);
        }
    }

    /// <summary>Writes <paramref name="value"/> as a 200 response.</summary>
    public static Task WriteAsync<T>(HttpResponse response, T value, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(response.Body, value, Options, cancellationToken);
    }

    /// <summary>Writes an error envelope with its status.</summary>
    public static Task WriteErrorAsync(HttpResponse response, MlflowError error, CancellationToken cancellationToken)
    {
        response.StatusCode = error.Status;
        response.ContentType = "application/json";
        return response.WriteAsync(error.ToJson().ToJsonString(), cancellationToken);
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            throw TooLarge();
        }

        if (request.ContentLength is { } length)
        {
            // The common case: the size is known (the server reads no further), and the body is read once into a buffer of
            // that size.
            var exact = new byte[length];
            try
            {
                await request.Body.ReadExactlyAsync(exact, cancellationToken);
            }
            catch (EndOfStreamException)
            {
                throw MlflowError.InvalidParameter("The request body is shorter than its Content-Length.");
            }

            return exact;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                throw TooLarge();
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static MlflowError TooLarge() => MlflowError.InvalidParameter($"The request body is over {MaxBodyBytes} bytes.");

    private static void Validate(ReadOnlySpan<byte> content)
    {
        var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            while (reader.Read())
            {
            }
        }
        catch (JsonException exception)
        {
            throw MlflowError.InvalidParameter($"The request body is not valid JSON (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1}).");
        }
    }

    private static T Bind<T>(JsonNode node) where T : new()
    {
        try
        {
            return node.Deserialize<T>(Options) ?? new T();
        }
        catch (JsonException exception)
        {
            throw Mismatch<T>(exception);
        }
    }

    private static MlflowError Mismatch<T>(JsonException exception) => MlflowError.InvalidParameter(
        $"Invalid value in the request{(exception.Path is { Length: > 0 } path ? $" at {path}" : "")}: expected {Describe(typeof(T), exception.Path)}.");

    private static JsonObject FromQuery(IQueryCollection query)
    {
        var node = new JsonObject();
        foreach (var (key, values) in query)
        {
            node[key] = values.Count == 1 ? JsonValue.Create(values[0]) : new JsonArray([.. values.Select(v => JsonValue.Create(v))]);
        }

        return node;
    }

    private static string Describe(Type type, string? path)
    {
        var name = path?.Split('.', '[').LastOrDefault(p => p.Length > 0 && p != "$")?.TrimEnd(']');
        var property = name is null ? null : type.GetProperties().FirstOrDefault(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) == name);
        return property?.PropertyType switch
        {
            { } t when t == typeof(long) || t == typeof(long?) || t == typeof(int) || t == typeof(int?) => "an integer",
            { } t when t == typeof(double) || t == typeof(double?) => "a number",
            { } t when t == typeof(bool) || t == typeof(bool?) => "true or false",
            { } t when t == typeof(string) => "a string",
            _ => "the field's type",
        };
    }

    /// <summary>true/false, also as strings in any case (R sends <c>"TRUE"</c>, query strings <c>"true"</c>).</summary>
    private sealed class LenientBoolean : JsonConverter<bool>
    {
        public override bool Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False => false,
            JsonTokenType.String when bool.TryParse(reader.GetString(), out var value) => value,
            _ => throw new JsonException("expected true or false"),
        };

        public override void Write(Utf8JsonWriter writer, bool value, JsonSerializerOptions options) => writer.WriteBooleanValue(value);
    }

    /// <summary>A string, or a number's text (a client that sends an id as a number).</summary>
    private sealed class LenientString : JsonConverter<string>
    {
        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number => Encoding.UTF8.GetString(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan),
            JsonTokenType.Null => null,
            _ => throw new JsonException("expected a string"),
        };

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }

    /// <summary>A list of strings, or one string (a query-string key given once).</summary>
    private sealed class LenientStringList : JsonConverter<List<string>>
    {
        public override List<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var element = new LenientString();
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                return element.Read(ref reader, typeof(string), options) is { } one ? [one] : [];
            }

            var list = new List<string>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (element.Read(ref reader, typeof(string), options) is { } item)
                {
                    list.Add(item);
                }
            }

            return list;
        }

        public override void Write(Utf8JsonWriter writer, List<string> value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var item in value)
            {
                writer.WriteStringValue(item);
            }

            writer.WriteEndArray();
        }
    }
}
