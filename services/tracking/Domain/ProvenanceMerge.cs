using Google.Protobuf;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Domain;

/// <summary>Provenance is filled in, never rewritten: each field, once set, keeps its value.</summary>
public static class ProvenanceMerge
{
    /// <summary>
    /// <paramref name="current"/> with the fields <paramref name="update"/> sets; a field set in both with different
    /// values is refused (INVALID_ARGUMENT, reason WRITE_ONCE) naming it. Map fields merge by key under the same rule.
    /// </summary>
    public static Provenance Merge(Provenance current, Provenance update)
    {
        var merged = current.Clone();
        foreach (var field in Provenance.Descriptor.Fields.InFieldNumberOrder())
        {
            var accessor = field.Accessor;
            if (field.IsMap)
            {
                var target = (System.Collections.IDictionary)accessor.GetValue(merged);
                var source = (System.Collections.IDictionary)accessor.GetValue(update);
                foreach (System.Collections.DictionaryEntry entry in source)
                {
                    if (target.Contains(entry.Key) && !Equals(target[entry.Key], entry.Value))
                    {
                        throw Conflict($"{field.Name}[{entry.Key}]");
                    }

                    target[entry.Key] = entry.Value;
                }

                continue;
            }

            if (!IsSet(field, update))
            {
                continue;
            }

            if (IsSet(field, merged) && !Equals(accessor.GetValue(merged), accessor.GetValue(update)))
            {
                throw Conflict(field.Name);
            }

            if (field.IsRepeated)
            {
                var target = (System.Collections.IList)accessor.GetValue(merged);
                if (target.Count == 0)
                {
                    foreach (var item in (System.Collections.IList)accessor.GetValue(update))
                    {
                        target.Add(item);
                    }
                }
            }
            else
            {
                accessor.SetValue(merged, accessor.GetValue(update));
            }
        }

        return merged;
    }

    private static bool IsSet(Google.Protobuf.Reflection.FieldDescriptor field, IMessage message)
    {
        var value = field.Accessor.GetValue(message);
        return value switch
        {
            null => false,
            string text => text.Length > 0,
            System.Collections.ICollection collection => collection.Count > 0,
            _ => true,
        };
    }

    private static ServiceException Conflict(string field) =>
        new FieldViolations()
            .Add($"provenance.{field}", "was recorded before with another value: provenance is write-once")
            .ToException("The provenance was not changed.", "WRITE_ONCE");
}
