using Npgsql;

namespace ModelOps.Hosting.Local;

/// <summary>
/// A PostgreSQL server of its own: initdb on first start, then <c>postgres</c> in the foreground (so its output
/// is multiplexed and it is a descendant of the AppHost), stopped with <c>pg_ctl stop -m fast</c>. PostgreSQL refuses
/// to run as root, so under root every program runs as the <c>postgres</c> user through <c>runuser</c>.
/// </summary>
public sealed class LocalPostgres : LocalResource
{
    private const string Superuser = "postgres";
    private readonly LocalContext _context;
    private readonly int _preferredPort;
    private readonly string? _binDirectory;
    private readonly List<LocalDatabase> _databases = [];
    private LocalProcess? _server;
    private string _dataDirectory = "";

    /// <summary>A server named <paramref name="name"/> on <paramref name="preferredPort"/> (or a free port).</summary>
    public LocalPostgres(string name, LocalContext context, int preferredPort = 0, string? binDirectory = null)
        : base(name)
    {
        _context = context;
        _preferredPort = preferredPort;
        _binDirectory = binDirectory;
    }

    /// <summary>The port it listens on (loopback only).</summary>
    public int Port { get; private set; }

    /// <summary>The superuser's password (kept in the state folder).</summary>
    public string Password => _context.Secret(Name, "password");

    /// <inheritdoc />
    public override IReadOnlyList<LocalProcess> Processes => _server is null ? [] : [_server];

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Endpoints => new Dictionary<string, string>
    {
        ["tcp"] = $"127.0.0.1:{Port} (user {Superuser})",
    };

    /// <summary>Declares a database, created when the server starts.</summary>
    public LocalDatabase AddDatabase(string name)
    {
        var database = new LocalDatabase(name, this);
        _databases.Add(database);
        return database;
    }

    /// <summary>The connection string to <paramref name="database"/>.</summary>
    public string ConnectionStringFor(string database) => ConnectionString(Superuser, Password, database);

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        State = LocalState.Starting;
        var bin = Prerequisites.PostgresBinDirectory(_binDirectory);
        Port = Port != 0 ? Port : _context.Ports.Take(_preferredPort);
        _dataDirectory = DataDirectory();

        if (!File.Exists(Path.Combine(_dataDirectory, "PG_VERSION")))
        {
            await InitializeAsync(bin, cancellationToken);
        }

        List<string> settings =
        [
            "-D", _dataDirectory, "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1", "-c", $"unix_socket_directories={_dataDirectory}",
            "-c", "max_connections=400", "-c", "log_min_messages=warning", "-c", "log_line_prefix=%m [%p] ",
        ];
        if (!_context.Durable)
        {
            // Test databases are thrown away: trading crash safety for speed is right there, and only there.
            settings.AddRange(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        }

        _server = StartAsPostgres(Path.Combine(bin, "postgres"), settings);
        await WaitUntilAsync(async ct =>
        {
            await using var connection = new NpgsqlConnection(ConnectionStringFor("postgres") + ";Pooling=false;Timeout=2");
            await connection.OpenAsync(ct);
            return true;
        }, _server, TimeSpan.FromSeconds(60), cancellationToken);

        foreach (var database in _databases)
        {
            await CreateDatabaseAsync(database.DatabaseName, cancellationToken);
        }
    }

    /// <summary>Creates <paramref name="database"/> unless it exists; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionStringFor("postgres") + ";Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection);
        exists.Parameters.Add(new NpgsqlParameter { Value = database });
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Quote(database)}", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        return ConnectionStringFor(database);
    }

    /// <summary>
    /// Creates <paramref name="database"/> owned by the login role <paramref name="owner"/> (both unless they exist), that
    /// no other role but the superuser may connect to; returns the owner's connection string. A service logs in as its
    /// database's owner, never as the superuser.
    /// </summary>
    public async Task<string> CreateOwnedDatabaseAsync(string database, string owner, CancellationToken cancellationToken)
    {
        var password = _context.Secret(Name, $"{owner}.password");
        await using var connection = new NpgsqlConnection(ConnectionStringFor("postgres") + ";Pooling=false");
        await connection.OpenAsync(cancellationToken);
        var role = Quote(owner);
        await using (var exists = new NpgsqlCommand("SELECT 1 FROM pg_roles WHERE rolname = $1", connection))
        {
            exists.Parameters.Add(new NpgsqlParameter { Value = owner });
            var sql = await exists.ExecuteScalarAsync(cancellationToken) is null ? "CREATE ROLE {0} LOGIN PASSWORD {1}" : "ALTER ROLE {0} LOGIN PASSWORD {1}";
            // The password is generated hex (no quote can occur); DDL takes no parameters.
            await using var create = new NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, role, $"'{password}'"), connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await CreateDatabaseAsync(database, cancellationToken);
        foreach (var statement in new[]
                 {
                     $"ALTER DATABASE {Quote(database)} OWNER TO {role}",
                     $"REVOKE ALL ON DATABASE {Quote(database)} FROM PUBLIC",
                 })
        {
            await using var command = new NpgsqlCommand(statement, connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        // Tables created before the database had its owner (a state folder of an earlier version, whose services logged in
        // as the superuser) pass to the owner too; their indexes and sequences follow them. (REASSIGN OWNED cannot be used:
        // the superuser owns the system catalogues.)
        await using (var owned = new NpgsqlConnection(ConnectionStringFor(database) + ";Pooling=false"))
        {
            await owned.OpenAsync(cancellationToken);
            await using var tables = new NpgsqlCommand(
                "SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, $1::text) FROM pg_tables " +
                "WHERE schemaname = 'public' AND tableowner <> $1::text", owned);
            tables.Parameters.Add(new NpgsqlParameter { Value = owner });
            var statements = new List<string>();
            await using (var reader = await tables.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    statements.Add(reader.GetString(0));
                }
            }

            foreach (var statement in statements)
            {
                await using var alter = new NpgsqlCommand(statement, owned);
                await alter.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        return ConnectionString(owner, password, database);
    }

    private string ConnectionString(string username, string password, string database) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = username,
            Password = password,
            Database = database,
        }.ConnectionString;

    /// <summary>Whether the server accepts a connection now.</summary>
    public async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionStringFor("postgres") + ";Pooling=false;Timeout=3");
            await connection.OpenAsync(cancellationToken);
            return true;
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <inheritdoc />
    public override async Task StopAsync()
    {
        if (_server is null || _server.HasExited)
        {
            return;
        }

        var tree = ProcessTree.Descendants(_server.Id);
        var bin = Prerequisites.PostgresBinDirectory(_binDirectory);
        await using (var stop = StartAsPostgres(Path.Combine(bin, "pg_ctl"), ["stop", "-D", _dataDirectory, "-m", "fast", "-w", "-t", "20"]))
        {
            await Task.WhenAny(stop.Exited, Task.Delay(TimeSpan.FromSeconds(25)));
        }

        await _server.WaitOrKillAsync(tree, TimeSpan.FromSeconds(5));
        State = LocalState.Stopped;
    }

    private async Task InitializeAsync(string bin, CancellationToken cancellationToken)
    {
        var passwordFile = Path.Combine(_dataDirectory, "..", "initdb.pw");
        await File.WriteAllTextAsync(passwordFile, Password, cancellationToken);
        GiveToPostgres(passwordFile);
        try
        {
            await using var initdb = StartAsPostgres(Path.Combine(bin, "initdb"),
            [
                "-D", _dataDirectory, "-U", Superuser, "--pwfile", passwordFile, "--auth", "scram-sha-256",
                "--encoding", "UTF8", "--locale", "C", "--no-instructions",
            ]);
            await initdb.Exited.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
            if (initdb.ExitCode != 0)
            {
                State = LocalState.Failed;
                throw new LocalResourceFailedException(this, $"initdb failed: {string.Join(Environment.NewLine, initdb.RecentLines.TakeLast(10))}");
            }
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    private string DataDirectory()
    {
        var data = Path.Combine(_context.DirectoryFor(Name), "data");
        Directory.CreateDirectory(data);
        if (Environment.IsPrivilegedProcess)
        {
            File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            GiveToPostgres(Path.GetDirectoryName(data)!);
            GiveToPostgres(data);
            using var probe = System.Diagnostics.Process.Start("runuser", ["-u", "postgres", "--", "test", "-w", data]);
            probe.WaitForExit();
            if (probe.ExitCode != 0)
            {
                State = LocalState.Failed;
                throw new LocalResourceFailedException(this,
                    $"cannot use {data}: the postgres user cannot reach it (a parent folder is private to root); " +
                    "choose a state folder it can reach, e.g. --state /var/tmp/modelops");
            }
        }

        return data;
    }

    private LocalProcess StartAsPostgres(string program, IEnumerable<string> arguments)
    {
        var environment = new Dictionary<string, string?> { ["LC_ALL"] = "C" };
        return Environment.IsPrivilegedProcess
            ? LocalProcess.Start(Name, "runuser", ["-u", "postgres", "--", program, .. arguments], environment, _context.Log, "/")
            : LocalProcess.Start(Name, program, arguments, environment, _context.Log);
    }

    private static void GiveToPostgres(string path)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return;
        }

        using var chown = System.Diagnostics.Process.Start("chown", ["-R", "postgres:postgres", path]);
        chown.WaitForExit();
        if (chown.ExitCode != 0)
        {
            throw new InvalidOperationException($"Could not give {path} to the postgres user.");
        }
    }
}

/// <summary>A database on a <see cref="LocalPostgres"/>.</summary>
public sealed class LocalDatabase(string name, LocalPostgres server) : IConnectionSource
{
    /// <summary>The database name, also the connection string's name.</summary>
    public string DatabaseName { get; } = name;

    /// <summary>The server.</summary>
    public LocalPostgres Server { get; } = server;

    /// <inheritdoc />
    public string ConnectionName => DatabaseName;

    /// <inheritdoc />
    public string ConnectionString => Server.ConnectionStringFor(DatabaseName);
}
