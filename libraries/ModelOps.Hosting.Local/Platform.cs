// The AppHost manages local processes through /proc, POSIX signals and runuser: Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
