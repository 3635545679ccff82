using System.Collections;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;

namespace ModelOps.Contract.Tests;

/// <summary>One change that makes a request hostile: which field, what it holds now, and how to apply it to a request.</summary>
/// <param name="Field">The field's path, e.g. <c>provenance.data_time_range.start</c>.</param>
/// <param name="What">What the field was given, for a failure's message.</param>
/// <param name="Apply">Sets the field on a request (creating the messages on its way).</param>
public sealed record Mutation(string Field, string What, Action<IMessage> Apply)
{
    /// <inheritdoc />
    public override string ToString() => $"{Field} = {What}";
}

/// <summary>
/// The hostile values of every field of a request, read from its descriptor, so that a new RPC or field is covered
/// without new test code: empty, oversized, control and invisible characters, lone surrogates inside JSON, extreme and
/// non-finite numbers, invalid timestamps, unknown enum values, and huge repeated fields and maps.
/// </summary>
public static class BadValues
{
    private const int MaxDepth = 3;

    /// <summary>Every mutation of every field of <paramref name="descriptor"/>, down to <see cref="MaxDepth"/> nested messages.</summary>
    public static IEnumerable<Mutation> Of(MessageDescriptor descriptor) => Of(descriptor, [], 0);

    private static IEnumerable<Mutation> Of(MessageDescriptor descriptor, IReadOnlyList<FieldDescriptor> path, int depth)
    {
        foreach (var field in descriptor.Fields.InDeclarationOrder())
        {
            var here = path.Append(field).ToList();
            var name = string.Join(".", here.Select(f => f.Name));
            if (field.IsMap)
            {
                var key = field.MessageType.FindFieldByNumber(1);
                var value = field.MessageType.FindFieldByNumber(2);
                foreach (var (what, bad) in Scalars(key))
                {
                    yield return new Mutation($"{name}[key]", what, m => Map(m, here)[bad] = Plausible(value));
                }

                foreach (var (what, bad) in value.FieldType == FieldType.Message ? Messages(value.MessageType) : Scalars(value))
                {
                    yield return new Mutation($"{name}[value]", what, m => Map(m, here)[Plausible(key)] = bad);
                }

                yield return new Mutation(name, "5000 entries", m =>
                {
                    var map = Map(m, here);
                    for (var i = 0; i < 5000; i++)
                    {
                        map[KeyOf(key, i)] = Plausible(value);
                    }
                });
                continue;
            }

            var values = field.FieldType == FieldType.Message ? Messages(field.MessageType) : Scalars(field);
            foreach (var (what, bad) in values)
            {
                yield return field.IsRepeated
                    ? new Mutation($"{name}[0]", what, m => List(m, here).Add(bad))
                    : new Mutation(name, what, m => Set(m, here, bad));
            }

            if (field.IsRepeated)
            {
                yield return new Mutation(name, "20000 items", m =>
                {
                    var list = List(m, here);
                    for (var i = 0; i < 20_000; i++)
                    {
                        list.Add(Plausible(field));
                    }
                });
            }

            if (field.FieldType == FieldType.Message && !IsWellKnown(field.MessageType) && depth < MaxDepth)
            {
                // A nested message: each of its fields' mutations, inside it (the first element of a repeated one).
                foreach (var inner in Of(field.MessageType, here, depth + 1))
                {
                    yield return inner;
                }
            }
        }
    }

    // Values no field should accept unchecked. Strings: empty, oversized, control and invisible characters, CJK and
    // incompressible text beyond any documented bound, U+FFFD; JSON fields also get lone surrogates and deep nesting.
    private static IEnumerable<(string What, object Value)> Scalars(FieldDescriptor field)
    {
        switch (field.FieldType)
        {
            case FieldType.String:
                yield return ("\"\"", "");
                yield return ("200,000 × 'x'", new string('x', 200_000));
                yield return ("NUL", "a\0b");
                yield return ("ESC[31m", "a\u001b[31mb");
                yield return ("RLO", "a\u202eb");
                yield return ("zero-width space", "a\u200bb");
                yield return ("U+FFFD", "\ufffd");
                yield return ("9000 CJK characters", new string('漢', 9000));
                yield return ("10,000 random characters", Random(10_000));
                if (field.Name.EndsWith("_json", StringComparison.Ordinal))
                {
                    yield return ("a lone surrogate in a JSON string", "{\"a\":\"\\ud800\"}");
                    yield return ("a lone surrogate in a JSON name", "{\"\\ud800\":1}");
                    yield return ("reversed surrogates", "{\"a\":\"\\ude00\\ud83d\"}");
                    yield return ("JSON nested 10,000 deep", new string('[', 10_000));
                    yield return ("1e400", "{\"a\":1e400}");
                }

                if (field.Name.Contains("path", StringComparison.Ordinal))
                {
                    yield return ("a path with a backslash", "models\\model.bin");
                    yield return ("a path through '..'", "../../etc/passwd");
                    yield return ("full-width dots", "\uff0e\uff0e/secret");
                }

                if (field.Name is "filter" or "name_contains" or "order_by")
                {
                    yield return ("a LIKE pattern ending in a backslash", "risk%\\");
                    yield return ("30,000 '('", new string('(', 30_000));
                    yield return ("a million '('", new string('(', 1_000_000));
                }

                break;
            case FieldType.Bytes:
                yield return ("empty bytes", ByteString.Empty);
                yield return ("100,000 random bytes", ByteString.CopyFrom(RandomBytes(100_000)));
                break;
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                yield return ("-1", -1);
                yield return ("int.MinValue", int.MinValue);
                yield return ("int.MaxValue", int.MaxValue);
                break;
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                yield return ("-1", -1L);
                yield return ("long.MinValue", long.MinValue);
                yield return ("long.MaxValue", long.MaxValue);
                break;
            case FieldType.UInt32 or FieldType.Fixed32:
                yield return ("uint.MaxValue", uint.MaxValue);
                break;
            case FieldType.UInt64 or FieldType.Fixed64:
                yield return ("ulong.MaxValue", ulong.MaxValue);
                break;
            case FieldType.Double:
                yield return ("NaN", double.NaN);
                yield return ("+∞", double.PositiveInfinity);
                yield return ("-∞", double.NegativeInfinity);
                yield return ("-1.7e308", -double.MaxValue);
                yield return ("1.7e308", double.MaxValue);
                break;
            case FieldType.Float:
                yield return ("NaN", float.NaN);
                yield return ("-3.4e38", -float.MaxValue);
                break;
            case FieldType.Bool:
                yield return ("true", true);
                break;
            case FieldType.Enum:
                yield return ("unknown enum value 999", System.Enum.ToObject(field.EnumType.ClrType, 999));
                yield return ("enum value -5", System.Enum.ToObject(field.EnumType.ClrType, -5));
                break;
        }
    }

    private static IEnumerable<(string What, object Value)> Messages(MessageDescriptor type)
    {
        if (type.FullName == Timestamp.Descriptor.FullName)
        {
            yield return ("seconds 2^62", new Timestamp { Seconds = 1L << 62 });
            yield return ("seconds -2^62", new Timestamp { Seconds = -(1L << 62) });
            yield return ("nanos -1", new Timestamp { Seconds = 1_700_000_000, Nanos = -1 });
            yield return ("nanos 2e9", new Timestamp { Seconds = 1_700_000_000, Nanos = 2_000_000_000 });
            yield return ("year 1", new Timestamp { Seconds = -62_135_596_800 });
            yield return ("year 10000", new Timestamp { Seconds = 253_402_300_800 });
        }
        else if (type.FullName == Value.Descriptor.FullName)
        {
            yield return ("NaN", Value.ForNumber(double.NaN));
            yield return ("a 300-character label", Value.ForString(new string('l', 300)));
            yield return ("a list nested 90 deep", Nested(90));
            yield return ("a struct of 5000 fields", Value.ForStruct(new Struct { Fields = { Enumerable.Range(0, 5000).ToDictionary(i => $"f{i}", i => Value.ForNumber(i)) } }));
        }
        else if (!IsWellKnown(type))
        {
            yield return ("an empty message", (IMessage)Activator.CreateInstance(type.ClrType)!);
        }
    }

    private static object KeyOf(FieldDescriptor key, int i) => key.FieldType switch
    {
        FieldType.String => $"k{i}",
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => (long)i,
        FieldType.Bool => i % 2 == 0,
        _ => i,
    };

    private static Value Nested(int depth) => depth == 0 ? Value.ForNumber(1) : Value.ForList(Nested(depth - 1));

    private static bool IsWellKnown(MessageDescriptor type) => type.File.Package == "google.protobuf";

    // A value a field takes without complaint, for the other side of a map entry and for bulk.
    private static object Plausible(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.String => "plausible",
        FieldType.Bytes => ByteString.CopyFromUtf8("b"),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => 1,
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => 1L,
        FieldType.UInt32 or FieldType.Fixed32 => 1u,
        FieldType.UInt64 or FieldType.Fixed64 => 1ul,
        FieldType.Double => 1.0,
        FieldType.Float => 1f,
        FieldType.Bool => true,
        FieldType.Enum => System.Enum.ToObject(field.EnumType.ClrType, 1),
        _ when field.MessageType.FullName == Value.Descriptor.FullName => Value.ForNumber(1),
        _ => Activator.CreateInstance(field.MessageType.ClrType)!,
    };

    private static void Set(IMessage root, IReadOnlyList<FieldDescriptor> path, object value) =>
        path[^1].Accessor.SetValue(Parent(root, path), value);

    private static IList List(IMessage root, IReadOnlyList<FieldDescriptor> path) => (IList)path[^1].Accessor.GetValue(Parent(root, path));

    private static IDictionary Map(IMessage root, IReadOnlyList<FieldDescriptor> path) => (IDictionary)path[^1].Accessor.GetValue(Parent(root, path));

    // The message holding the last field of the path, created on the way (in a repeated field: its first element).
    private static IMessage Parent(IMessage root, IReadOnlyList<FieldDescriptor> path)
    {
        var message = root;
        foreach (var field in path.Take(path.Count - 1))
        {
            if (field.IsRepeated)
            {
                var list = (IList)field.Accessor.GetValue(message);
                if (list.Count == 0)
                {
                    list.Add(Activator.CreateInstance(field.MessageType.ClrType));
                }

                message = (IMessage)list[0]!;
                continue;
            }

            var next = (IMessage?)field.Accessor.GetValue(message);
            if (next is null)
            {
                next = (IMessage)Activator.CreateInstance(field.MessageType.ClrType)!;
                field.Accessor.SetValue(message, next);
            }

            message = next;
        }

        return message;
    }

    // Deterministic, incompressible text: letters from many scripts, no control character.
    private static string Random(int length)
    {
        var random = new System.Random(20261201);
        var text = new StringBuilder(length);
        while (text.Length < length)
        {
            var c = (char)random.Next(0x21, 0xD7FF);
            if (!char.IsControl(c) && !char.IsSurrogate(c) && System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) is not
                    (System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.OtherNotAssigned))
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new System.Random(1).NextBytes(bytes);
        return bytes;
    }
}
