// The local servers run through /proc, POSIX signals and runuser: the AppHost is Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
