namespace ModelOps.Hosting.Local;

/// <summary>Files that hold a secret (a password, a key, a token): readable and writable by their owner only, from their first byte.</summary>
public static class PrivateFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/>, created as 0600 (and made 0600 if it existed with another mode).</summary>
    public static void Write(string path, string text)
    {
        using (var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }))
        using (var writer = new StreamWriter(file))
        {
            writer.Write(text);
        }

        File.SetUnixFileMode(path, OwnerOnly);
    }
}
