using System.Text;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Tracking.Artifacts;

/// <summary>The rules an artifact path follows, so that no path can name something outside its run, or pass for another.</summary>
public static class ArtifactPaths
{
    /// <summary>Longest path accepted, in UTF-16 code units.</summary>
    public const int MaxLength = 1024;

    /// <summary>Longest path accepted, in bytes of UTF-8 (the path is a b-tree key, whose entries hold at most 2704 bytes).</summary>
    public const int MaxBytes = 2048;

    /// <summary>
    /// Why <paramref name="path"/> is not a valid artifact path, or null when it is: relative, '/'-separated, with no
    /// empty, '.' or '..' segment (nor one that compatibility normalisation turns into one, such as full-width dots),
    /// no backslash, and a name's rules otherwise (no control or format character: no bidirectional override, no
    /// zero-width character). A valid path is compared and stored in NFC (<see cref="Normalise"/>), so that one file has
    /// exactly one name.
    /// </summary>
    public static string? Problem(string path)
    {
        if (path.Length == 0)
        {
            return "is required";
        }

        if (path.Length > MaxLength)
        {
            return $"is {path.Length} characters long: at most {MaxLength}";
        }

        if (TextRules.NameProblem(path) is { } problem)
        {
            return problem;
        }

        if (Encoding.UTF8.GetByteCount(path) > MaxBytes)
        {
            return $"is {Encoding.UTF8.GetByteCount(path)} bytes long in UTF-8: at most {MaxBytes}";
        }

        if (path[0] == '/' || (path.Length >= 2 && path[1] == ':'))
        {
            return "is absolute: an artifact path is relative to its run";
        }

        if (path.Contains('\\', StringComparison.Ordinal))
        {
            return "contains a backslash: segments are separated by '/'";
        }

        // NFKC folds look-alikes (full-width '．' and '／', the one-dot leader '․') into what they imitate.
        var folded = path.Normalize(NormalizationForm.FormKC);
        if (folded.Contains('\\', StringComparison.Ordinal))
        {
            return "contains a character that reads as a backslash";
        }

        foreach (var segment in folded.Split('/'))
        {
            switch (segment)
            {
                case "..":
                    return "contains a '..' segment (or one that reads as '..'): a path may not leave its run";
                case ".":
                    return "contains a '.' segment (or one that reads as '.')";
                case "":
                    return "contains an empty segment (a leading, trailing or doubled '/', or a character that reads as '/')";
            }
        }

        return null;
    }

    /// <summary>The form in which a valid path is compared and stored: NFC.</summary>
    public static string Normalise(string path) => TextRules.Nfc(path);

    /// <summary>
    /// Why <paramref name="prefix"/> is not a valid listing prefix, or null: empty, or a path (optionally ending in
    /// '/') that follows the rules of <see cref="Problem"/>.
    /// </summary>
    public static string? PrefixProblem(string prefix) =>
        prefix.Length == 0 ? null : Problem(prefix.EndsWith('/') ? prefix[..^1] : prefix);
}
