"""How the Python clients find the stack they belong to (modelops.stack), on endpoints files in temporary folders."""

import json
import os
import subprocess
import tempfile
import unittest
from unittest import mock

from modelops import stack
from modelops.errors import Connection

SERVICES = ["tracking", "registry", "drift", "fairness", "explainability", "alerting", "ledger"]


def write_endpoints(state, pid, port):
    """An endpoints.json shaped as the AppHost writes it, with services on port+0..6; returns its path."""
    os.makedirs(os.path.join(state, "tokens"), exist_ok=True)
    resources = {s: {"endpoints": {"grpc": f"http://127.0.0.1:{port + i}", "http": f"http://127.0.0.1:{port + 100 + i}"}} for i, s in enumerate(SERVICES)}
    resources["identity"] = {"endpoints": {"issuer": "http://127.0.0.1:28880", "tokens": os.path.join(state, "tokens")}}
    resources["postgres"] = {"endpoints": {"tcp": "127.0.0.1:25432"}}
    document = {"dashboard": "http://127.0.0.1:28888/login?t=abc", "appHostPid": pid, "tokens": os.path.join(state, "tokens"),
                "resources": resources, "services": SERVICES}
    path = os.path.join(state, "endpoints.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file)
    return path


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class _Stub:
    def __init__(self, channel):
        self.channel = channel


class StackTests(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.root = self._folder.name

    def tearDown(self):
        self._folder.cleanup()

    def test_the_nearest_running_stack_above_the_folder_is_found(self):
        checkout = os.path.join(self.root, "checkout")
        path = write_endpoints(os.path.join(checkout, ".modelops"), os.getpid(), 27101)
        deep = os.path.join(checkout, "samples", "credit")
        os.makedirs(deep)
        found = stack.find(cwd=deep, environ={"HOME": self.root})
        self.assertEqual(path, found.file)
        self.assertEqual("127.0.0.1:27101", found.target("tracking"))
        self.assertEqual("127.0.0.1:27107", found.target("ledger"))
        self.assertIsNone(found.target("postgres"))
        self.assertEqual(os.path.join(checkout, ".modelops", "tokens", "reviewer.jwt"), found.token_file("reviewer"))
        self.assertEqual("http://127.0.0.1:28880", found.issuer)
        self.assertTrue(found.running)

    def test_a_stack_whose_apphost_is_gone_is_passed_over_for_the_one_the_user_file_names(self):
        write_endpoints(os.path.join(self.root, "here", ".modelops"), dead_pid(), 27101)
        live = write_endpoints(os.path.join(self.root, "elsewhere", ".modelops"), os.getpid(), 37101)
        config = os.path.join(self.root, "config")
        os.makedirs(os.path.join(config, "modelops"))
        with open(os.path.join(config, "modelops", "stack"), "w", encoding="utf-8") as file:
            file.write(live + "\n")
        found = stack.find(cwd=os.path.join(self.root, "here"), environ={"XDG_CONFIG_HOME": config})
        self.assertEqual("127.0.0.1:37101", found.target("tracking"))
        self.assertEqual(os.path.join(self.root, ".config", "modelops", "stack"), stack.user_file({"HOME": self.root}))

    def test_a_user_file_naming_a_stopped_stack_finds_nothing(self):
        dead = write_endpoints(os.path.join(self.root, "stopped"), dead_pid(), 27101)
        os.makedirs(os.path.join(self.root, ".config", "modelops"))
        with open(os.path.join(self.root, ".config", "modelops", "stack"), "w", encoding="utf-8") as file:
            file.write(dead)
        self.assertIsNone(stack.find(cwd=self.root, environ={"HOME": self.root}))

    def test_modelops_stack_names_a_state_folder_or_a_file_and_wins(self):
        write_endpoints(os.path.join(self.root, ".modelops"), os.getpid(), 27101)
        chosen = write_endpoints(os.path.join(self.root, "other-state"), os.getpid(), 47101)
        self.assertEqual("127.0.0.1:47101", stack.find(cwd=self.root, environ={"MODELOPS_STACK": os.path.join(self.root, "other-state")}).target("tracking"))
        self.assertEqual("$MODELOPS_STACK", stack.find(cwd=self.root, environ={"MODELOPS_STACK": chosen}).found_by)
        self.assertIsNone(stack.find(cwd=self.root, environ={"MODELOPS_STACK": os.path.join(self.root, "nothing")}))

    def test_an_unreadable_or_foreign_file_is_no_stack(self):
        folder = os.path.join(self.root, ".modelops")
        os.makedirs(folder)
        for text in ("{ not json", "[1, 2]", '{"resources": {"tracking": "x"}, "appHostPid": true}'):
            with open(os.path.join(folder, "endpoints.json"), "w", encoding="utf-8") as file:
                file.write(text)
            self.assertIsNone(stack.find(cwd=self.root, environ={"HOME": self.root}))

    def test_a_client_takes_the_stacks_address_and_token_unless_given_or_set(self):
        state = os.path.join(self.root, "state")
        write_endpoints(state, os.getpid(), 27101)
        with open(os.path.join(state, "tokens", "pipeline.jwt"), "w", encoding="utf-8") as file:
            file.write("stack-token\n")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELOPS_")}
        with mock.patch.dict(os.environ, {**clean, "MODELOPS_STACK": state}, clear=True):
            found = Connection(_Stub, None, None, None, "MODELOPS_REGISTRY_TARGET", "127.0.0.1:7102")
            self.assertEqual("127.0.0.1:27102", found._target)
            self.assertEqual((("authorization", "Bearer stack-token"),), found._metadata)
            self.assertIn(os.path.join(state, "endpoints.json"), found._target_source)
            found.close()
            os.environ["MODELOPS_REGISTRY_TARGET"] = "127.0.0.1:9"
            os.environ["MODELOPS_TOKEN"] = "variable-token"
            overridden = Connection(_Stub, None, None, None, "MODELOPS_REGISTRY_TARGET", "127.0.0.1:7102")
            self.assertEqual(("127.0.0.1:9", "$MODELOPS_REGISTRY_TARGET"), (overridden._target, overridden._target_source))
            self.assertEqual((("authorization", "Bearer variable-token"),), overridden._metadata)
            overridden.close()
            given = Connection(_Stub, "127.0.0.1:8", "given-token", None, "MODELOPS_REGISTRY_TARGET", "127.0.0.1:7102")
            self.assertEqual(("127.0.0.1:8", (("authorization", "Bearer given-token"),)), (given._target, given._metadata))
            given.close()
        with mock.patch.dict(os.environ, {**clean, "MODELOPS_STACK": os.path.join(self.root, "none")}, clear=True):
            default = Connection(_Stub, None, None, None, "MODELOPS_REGISTRY_TARGET", "127.0.0.1:7102")
            self.assertEqual(("127.0.0.1:7102", ()), (default._target, default._metadata))
            self.assertIn("no running stack", default._target_source)
            default.close()


if __name__ == "__main__":
    unittest.main()
