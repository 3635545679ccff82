namespace ModelOps.Tracking.Artifacts;

/// <summary>The rules an artifact path follows, so that no path can name something outside its run.</summary>
public static class ArtifactPaths
{
    /// <summary>Longest path accepted.</summary>
    public const int MaxLength = 1024;

    /// <summary>
    /// Why <paramref name="path"/> is not a valid artifact path, or null when it is: relative, '/'-separated, with no
    /// empty, '.' or '..' segment, no backslash and no control character. Paths are compared as given, never
    /// normalised, so that one file has exactly one name.
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

        if (path[0] == '/' || (path.Length >= 2 && path[1] == ':'))
        {
            return "is absolute: an artifact path is relative to its run";
        }

        if (path.Contains('\\', StringComparison.Ordinal))
        {
            return "contains a backslash: segments are separated by '/'";
        }

        if (path.Any(char.IsControl))
        {
            return "contains a control character";
        }

        foreach (var segment in path.Split('/'))
        {
            switch (segment)
            {
                case "..":
                    return "contains a '..' segment: a path may not leave its run";
                case ".":
                    return "contains a '.' segment";
                case "":
                    return "contains an empty segment (a leading, trailing or doubled '/')";
            }
        }

        return null;
    }

    /// <summary>
    /// Why <paramref name="prefix"/> is not a valid listing prefix, or null: empty, or a path (optionally ending in
    /// '/') that follows the rules of <see cref="Problem"/>.
    /// </summary>
    public static string? PrefixProblem(string prefix) =>
        prefix.Length == 0 ? null : Problem(prefix.EndsWith('/') ? prefix[..^1] : prefix);
}
