"""``difftest serve``: the serving oracles on a fake OpenAI-compatible server (clean: no finding;
each planted bug: flagged), the CLI's outputs and errors, server lifecycle (no process left), and
the real servers on the tiny model (slow)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest.serving import conventions
from enginebugs.difftest.serving.oracles import CLASSES, ORACLES
from enginebugs.difftest.serving.run import serve_run
from enginebugs.difftest.serving.servers import LIVE, Server, ServerError, started, url_server
from enginebugs.difftest.serving.suite import SuiteError, load_serving_suite
from tests.serving_fake import FakeServer


def run_fake(*bug_sets):
    """One run over one fake server per bug set (``()`` is a clean one)."""
    fakes = [FakeServer(bugs=b) for b in bug_sets]
    urls = [f.__enter__() for f in fakes]
    try:
        servers = [url_server(u, i) for i, u in enumerate(urls)]
        return serve_run(None, servers, load_serving_suite())
    finally:
        for f in fakes:
            f.__exit__(None, None, None)


def classes(result, label_prefix="url"):
    return {(f.oracle, f.divergence_class) for f in result.findings if f.configs[0].startswith(label_prefix)}


def test_clean_fake_passes():
    result = run_fake(())
    assert result.findings == [], [f.title for f in result.findings]
    status = {o["oracle"]: o["status"] for o in result.oracles}
    for oracle in ("serving.stream", "serving.stop", "serving.usage", "serving.logprobs", "serving.params",
                   "serving.validation", "serving.concurrency"):
        assert status[oracle] == "pass", oracle
    assert result.exit_code == 0


@pytest.mark.parametrize("bug, expected", [
    ("stop_kept", ("serving.stop", "stop-kept")),
    ("usage_off_by_one", ("serving.usage", "usage-count")),
    ("stream_drops_chunk", ("serving.stream", "stream-text")),
    ("ignores_n", ("serving.params", "n-ignored")),
])
def test_planted_bug_is_flagged(bug, expected):
    result = run_fake((bug,))
    found = classes(result)
    assert expected in found, found
    finding = next(f for f in result.findings if (f.oracle, f.divergence_class) == expected)
    assert "curl -sS" in finding.message and "127.0.0.1" in finding.message and "response: HTTP 200" in finding.message
    symptom, _, root, component = CLASSES[expected[1]]
    assert (finding.symptom, finding.root_cause, finding.component) == (symptom, root, component)
    assert result.exit_code == 1


def test_two_fakes_compared_side_by_side():
    result = run_fake((), ("ignores_n",))
    labels = {o["configs"][0] for o in result.oracles}
    assert labels == {"url@unknown", "url1@unknown"}
    assert {f.configs[0] for f in result.findings} == {"url1@unknown"}
    cross = [o for o in result.oracles if o["oracle"] == "serving.reference" and len(o["configs"]) == 2]
    assert cross and cross[0]["status"] == "pass"


def test_conventions_are_not_findings():
    observed = {"stop.usage": {"a": "counted", "b": "not counted"}, "validation.empty-prompt": {"a": "2xx", "b": "2xx"}}
    diffs = conventions.differences(observed)
    assert [d["convention"] for d in diffs] == ["stop.usage"]
    assert conventions.covers("validation.max_tokens-zero") and not conventions.covers("stop.kept")


def test_every_class_maps_onto_the_taxonomy():
    from enginebugs.taxonomy import TAXONOMY

    for symptom, subtype, root, component in CLASSES.values():
        TAXONOMY.resolve("symptom", symptom)
        TAXONOMY.resolve("root_cause", root)
        TAXONOMY.resolve("component", component)
    assert all(o.family == "serving" for o in ORACLES.values())


def test_cli_outputs_and_store(tmp_path):
    with FakeServer(bugs={"stop_kept"}) as url:
        out = CliRunner().invoke(main, ["difftest", "serve", "--model", "none", "--servers", "", "--server-url", url,
                                        "--json-out", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"),
                                        "--markdown", str(tmp_path / "r.md"), "--db", str(tmp_path / "s.db"),
                                        "--quiet"])
    assert out.exit_code == 1, out.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"] == "enginebugs.difftest/1"
    stop = [f for f in data["findings"] if f["divergence_class"] == "stop-kept"]
    assert stop and stop[0]["first_divergence"]["exchanges"][0]["curl"].startswith("curl ")
    assert "serving.stop" in (tmp_path / "r.xml").read_text() and "serving.stop" in (tmp_path / "r.md").read_text()
    assert "## Convention differences" in (tmp_path / "r.md").read_text()
    from enginebugs.taxonomy.store import Store

    with Store.open(str(tmp_path / "s.db"), readonly=True) as store:
        assert store.conn.execute("SELECT count(*) FROM records WHERE kind='difftest'").fetchone()[0] == len(
            data["findings"])


@pytest.mark.parametrize("args, message", [
    (["--servers", "nosuch"], "unknown server 'nosuch'"),
    (["--servers", ""], "no server"),
    (["--servers", "llamacpp,llamacpp-server"], "duplicate servers"),
    (["--suite", "nosuch.toml"], "cannot read serving suite"),
    (["--json-out", "/nonexistent/dir/x.json"], "directory of /nonexistent/dir/x.json does not exist"),
    (["--model", "none"], "--model none works with --server-url only"),
])
def test_cli_usage_errors(args, message, tmp_path):
    out = CliRunner().invoke(main, ["difftest", "serve", *args])
    assert out.exit_code == 2 and message in out.output, out.output
    assert out.output.strip().splitlines()[-1].startswith("error:")


def test_bad_suite(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("prompts = []\n")
    with pytest.raises(SuiteError, match="non-empty list"):
        load_serving_suite(str(bad))


class SleeperServer(Server):
    """A 'server' that never answers: the start times out and the process must be gone."""

    name = "sleeper"

    def build_command(self, model, port):
        return [sys.executable, "-c", "import time; time.sleep(600)"]


class ChildSpawner(Server):
    """A server that answers /v1/models and has a child of its own (as vLLM has)."""

    name = "spawner"

    def build_command(self, model, port):
        code = ("import subprocess,sys,json,http.server as h;"
                "subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)']);"
                "B=type('B',(h.BaseHTTPRequestHandler,),{'log_message':lambda *a:None,"
                "'do_GET':lambda s:(s.send_response(200),s.end_headers(),"
                "s.wfile.write(json.dumps({'data':[{'id':'m'}]}).encode()))});"
                f"h.HTTPServer(('127.0.0.1',{port}),B).serve_forever()")
        return [sys.executable, "-c", code]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_servers_leave_no_process():
    spawner, sleeper = ChildSpawner(), SleeperServer()
    with started([spawner, sleeper], None, timeout_s=1.5) as (up, failed):
        assert up == [spawner] and isinstance(failed["sleeper"], ServerError)
        pgid = spawner.proc.pid
        assert _group_alive(pgid)
    deadline = time.monotonic() + 10
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(pgid) and not LIVE


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_server_dies_with_the_tester(tmp_path, sig):
    """SIGKILL the tester (the kernel's parent-death signal takes the server down), Ctrl-C it (the
    context manager stops the server) or SIGTERM it (the handler kills the process groups)."""
    marker = tmp_path / "pid"
    code = ("import sys,time; sys.path[:0]=[%r];"
            "from tests.test_serving import ChildSpawner; from enginebugs.difftest.serving.servers import started;"
            "s=ChildSpawner()\nwith started([s], None, timeout_s=20):\n"
            "    open(%r,'w').write(str(s.proc.pid)); time.sleep(600)") % (os.getcwd(), str(marker))
    tester = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    server_pid = int(marker.read_text())
    tester.send_signal(sig)
    tester.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(server_pid, signal.SIGKILL)
        pytest.fail("the server outlived the tester")
    if sig != signal.SIGKILL:
        deadline = time.monotonic() + 10
        while _group_alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(server_pid), "a child of the server outlived the tester"
    else:  # the server got SIGTERM from the kernel; stopping its own children is the server's job
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server_pid, signal.SIGKILL)


# -- the real servers on the tiny model ------------------------------------------------------------
def _short_suite():
    from enginebugs.difftest.serving.suite import InvalidCase, ServingSuite

    return ServingSuite(name="short", prompts=["The cat sat on", "1, 2, 3,"],
                        chats=[("user", [{"role": "user", "content": "Hi"}])], parts=["Hello", "world"],
                        invalid=[InvalidCase("negative-temperature", "completions",
                                             {"prompt": "Hi", "max_tokens": 2, "temperature": -1.0}, "reject")],
                        max_tokens=6, concurrency=2)


def _assert_ran_and_gone(result, servers):
    for s in servers:
        assert not LIVE and s.proc.poll() is not None
        with pytest.raises(OSError):
            import socket

            socket.create_connection(("127.0.0.1", int(s.base_url.rsplit(":", 1)[1])), timeout=1).close()
    configs = {c["engine"]: c for c in result.run["configs"]}
    for s in servers:
        assert configs[s.name]["status"] == "ok", configs[s.name]
        assert configs[s.name]["fingerprint"]["version"] != "unknown"
    ran = {(o["oracle"], o["configs"][0]) for o in result.oracles if o["status"] != "skip"}
    for s in servers:
        for oracle in ("serving.stream", "serving.usage", "serving.params", "serving.validation",
                       "serving.concurrency"):
            assert (oracle, s.label) in ran, (oracle, s.label)


@pytest.mark.slow
@pytest.mark.engines
def test_tiny_model_through_llamacpp_and_transformers_servers(tiny_model):
    from enginebugs.difftest.serving.servers import LlamaCppServer, TransformersServer

    servers = [LlamaCppServer(), TransformersServer()]
    for s in servers:
        if s.available():
            pytest.skip(s.available())
    result = serve_run(tiny_model, servers, _short_suite())
    _assert_ran_and_gone(result, servers)
    assert "--type_k" in servers[0].fingerprint()["flags"] and servers[0].fingerprint()["request_defaults"] == {
        "repeat_penalty": 1.0}


@pytest.mark.slow
@pytest.mark.engines
def test_tiny_model_through_vllm_server(tiny_model):
    from enginebugs.difftest.serving.servers import VllmServer

    server = VllmServer()
    if server.available():
        pytest.skip(server.available())
    result = serve_run(tiny_model, [server], _short_suite())
    _assert_ran_and_gone(result, [server])


@pytest.mark.parametrize("generation_prompt, flagged", [("<assistant>", False), ("", True)])
def test_chat_template_against_the_reference(generation_prompt, flagged):
    """The fake renders <role>content...<assistant>; a reference template that renders the same passes,
    one whose assistant turn is not opened is flagged."""
    from enginebugs.difftest.serving.oracles import Reference, chat_oracle
    from enginebugs.difftest.serving.plan import record_server
    from tests.serving_fake import tokenize

    suite = load_serving_suite()
    render = lambda ms: "".join(f"<{m['role']}>{m['content']}" for m in ms) + generation_prompt  # noqa: E731
    with FakeServer() as url:
        server = url_server(url)
        server.start(None)
        rec = record_server(server, suite)
    checks = chat_oracle(rec, suite.chats, suite.parts, Reference(chat_ids=lambda ms: tokenize(render(ms))))
    failed = {c.divergence_class for c in checks if not c.ok and c.skipped is None}
    assert failed == ({"chat-template"} if flagged else set()), [c.message for c in checks if not c.ok]
    assert any(c.ok and c.skipped is None and c.case.startswith("chat/") for c in checks) is not flagged
