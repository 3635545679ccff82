"""Finding the ModelOps stack a client belongs to, the way kubectl finds its context.

An AppHost writes endpoints.json to its state folder once every resource is healthy: each service's gRPC address, the
folder of its development tokens, its token issuer and its dashboard. It also writes that file's path to a user-level
file naming the stack started last. Both go when the stack stops. find() looks, in order, at:

1. $MODELOPS_STACK: a state folder, or an endpoints.json, taken as named;
2. .modelops/endpoints.json in the current folder or the nearest folder above it (a checkout's own stack), when its
   AppHost still runs;
3. the stack the user-level file names ($XDG_CONFIG_HOME/modelops/stack, else ~/.config/modelops/stack), when its
   AppHost still runs.

None when there is none: the clients then use the default ports. A target or token given to a client, or its
environment variable ($MODELOPS_TRACKING_TARGET, $MODELOPS_TOKEN, ...), wins over the stack's.
"""

import json
import os

VARIABLE = "MODELOPS_STACK"
ENDPOINTS_FILE = "endpoints.json"


class Stack:
    """A running stack as its endpoints.json describes it."""

    def __init__(self, path, found_by, document):
        #: The full path of the stack's endpoints.json, and how it was found (for messages).
        self.file, self.found_by = os.path.abspath(path), found_by
        #: The folder of the stack's development tokens (<role>.jwt), its token issuer and its dashboard.
        self.tokens, self.dashboard = _text(document, "tokens"), _text(document, "dashboard")
        pid = document.get("appHostPid")
        self.apphost_pid = pid if isinstance(pid, int) and not isinstance(pid, bool) else None
        self.issuer, self._grpc = None, {}
        resources = document.get("resources")
        for name, resource in (resources.items() if isinstance(resources, dict) else ()):
            endpoints = resource.get("endpoints") if isinstance(resource, dict) else None
            if isinstance(endpoints, dict):
                if isinstance(endpoints.get("grpc"), str):
                    self._grpc[name] = endpoints["grpc"]
                if isinstance(endpoints.get("issuer"), str):
                    self.issuer = endpoints["issuer"]

    @property
    def running(self):
        """Whether the AppHost that wrote the file still runs (a stack killed without stopping leaves its file)."""
        return self.apphost_pid is not None and _process_runs(self.apphost_pid)

    def target(self, service):
        """The service's gRPC target as grpc.insecure_channel takes it (host:port), or None."""
        address = self._grpc.get(service)
        return address.split("://", 1)[-1].rstrip("/") if address else None

    def token_file(self, role):
        """The path of the role's development token, or None when the stack names no tokens folder."""
        return os.path.join(self.tokens, f"{role}.jwt") if self.tokens else None

    def __repr__(self):
        return f"Stack({self.file!r}, found by {self.found_by})"


def user_file(environ=None):
    """The user-level file naming the stack started last."""
    environ = os.environ if environ is None else environ
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(config, "modelops", "stack")


def read(path, found_by):
    """The stack path describes, or None when it does not exist or is not an endpoints file."""
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except (OSError, ValueError):
        return None
    return Stack(path, found_by, document) if isinstance(document, dict) else None


def find(cwd=None, environ=None):
    """The stack a client belongs to (see the module's documentation), or None."""
    environ = os.environ if environ is None else environ
    named = environ.get(VARIABLE)
    if named:
        return read(os.path.join(named, ENDPOINTS_FILE) if os.path.isdir(named) else named, f"${VARIABLE}")
    folder = os.path.abspath(cwd or os.getcwd())
    while True:
        local = read(os.path.join(folder, ".modelops", ENDPOINTS_FILE), f"the folder {folder}")
        if local is not None and local.running:
            return local
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    pointer = user_file(environ)
    try:
        with open(pointer, encoding="utf-8") as file:
            pointed = file.read().strip()
    except OSError:
        return None
    last = read(pointed, f"{pointer} (the stack started last)") if pointed else None
    return last if last is not None and last.running else None


def _text(document, name):
    value = document.get(name)
    return value if isinstance(value, str) else None


def _process_runs(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True
