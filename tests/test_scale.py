"""Several processes on one database and one Chroma server: API servers and workers started through the CLI
(`ctrlmap serve --workers N`), a mapping job that survives the death of the worker running it, servers that
start without touching other processes' jobs, and ingest, map and review against a Chroma server on loopback.
Runs on SQLite and on PostgreSQL (the `pg_url` fixture: skipped locally without it, a failure when CI is set)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app
from rag.samples import sample_dir
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """A Chroma server (`chroma run`, from the chromadb wheel) on 127.0.0.1 and a free port."""
    port, path = free_port(), tmp_path_factory.mktemp("chroma")
    binary = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen([str(binary), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 60, "the Chroma server")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """One database every process of the test shares: a SQLite file, or a fresh PostgreSQL schema (conftest)."""
    return f"sqlite:///{tmp_path / 'shared.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def shared_env(tmp_path, database_url, chroma_url, monkeypatch):
    """Settings every process of the test shares (through the environment, as an operator would)."""
    env = {"CTRLMAP_DATA_DIR": str(tmp_path / "data"), "CTRLMAP_DATABASE_URL": database_url,
           "CTRLMAP_CHROMA_URL": chroma_url, "CTRLMAP_PRESET": "offline", "CTRLMAP_WORKSPACE": f"w{uuid.uuid4().hex[:8]}",
           "CTRLMAP_JOB_LEASE_S": "3", "CTRLMAP_JOB_POLL_S": "0.2", "ANONYMIZED_TELEMETRY": "False"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def cli(*args: str) -> str:
    """stdout of a CLI call that must succeed (hints and progress go to stderr)."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def seeded(env) -> str:
    """The sample policies ingested into the test's workspace; returns an admin key for it."""
    with sample_dir() as sample:
        cli("ingest", str(sample / "policies"))
    return json.loads(cli("keys", "create", "--role", "admin", "--name", "scale admin", "--workspace",
                          env["CTRLMAP_WORKSPACE"], "--json"))["key"]


class Server:
    """`ctrlmap serve --workers N` in a process of its own."""

    def __init__(self, env: dict, workers: int, processes: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--workers", str(workers),
             "--processes", str(processes), "--log-level", "warning"], cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def ready(self) -> "Server":
        def up():
            assert self.process.poll() is None, "the server exited"
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 120, f"the server on port {self.port}", every=0.3)
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def job_state(server: Server, env: dict, key: str, job_id: str) -> dict:
    response = httpx.get(f"{server.url}/api/workspaces/{env['CTRLMAP_WORKSPACE']}/jobs/{job_id}",
                         headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def start_mapping(server: Server, env: dict, key: str) -> str:
    response = httpx.post(f"{server.url}/api/workspaces/{env['CTRLMAP_WORKSPACE']}/jobs", json={},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def worker_pid(env: dict, job_id: str) -> tuple[str, int]:
    from rag import jobs
    from rag.context import Context

    ctx = Context()
    try:
        job = jobs.get(ctx, env["CTRLMAP_WORKSPACE"], job_id)
    finally:
        ctx.close()
    return job.worker, int(job.worker.split(":")[1])


def test_mapping_job_survives_killing_its_worker(shared_env, servers):
    key = seeded(shared_env)
    servers += [Server(shared_env, workers=1), Server(shared_env, workers=1)]
    first, second = [s.ready() for s in servers]
    job_id = start_mapping(first, shared_env, key)
    wait_until(lambda: job_state(second, shared_env, key, job_id)["status"] == "running", 120, "a worker to claim it",
               every=0.05)
    name, pid = worker_pid(shared_env, job_id)
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-job: no clean-up, its lease simply stops being renewed
    assert job_state(first, shared_env, key, job_id)["status"] == "running"  # nobody declares it dead early
    done = wait_until(lambda: (s := job_state(second, shared_env, key, job_id))["status"] not in ("queued", "running")
                      and s, 240, "another worker to finish the job", every=0.3)
    assert done["status"] == "done" and done["progress"] == 1.0, done
    assert done["stats"]["clauses"] > 300 and done["stats"]["saved"]["created"] > 0
    assert done["worker"] != name and done["attempts"] == 2 and done["message"].endswith("gaps")
    proposals = httpx.get(f"{second.url}/api/workspaces/{shared_env['CTRLMAP_WORKSPACE']}/proposals?limit=5",
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert proposals.status_code == 200 and len(proposals.json()) == 5


def test_starting_a_server_never_interrupts_other_processes_jobs(shared_env, servers):
    key = seeded(shared_env)
    servers.append(Server(shared_env, workers=1))
    first = servers[0].ready()
    job_id = start_mapping(first, shared_env, key)
    wait_until(lambda: job_state(first, shared_env, key, job_id)["status"] == "running", 120, "the job to start",
               every=0.05)
    servers.append(Server(shared_env, workers=0))  # a second API process (with a worker thread) starts now
    second = servers[1].ready()
    seen = {job_state(second, shared_env, key, job_id)["status"]}
    done = wait_until(lambda: (s := job_state(second, shared_env, key, job_id))["status"] not in ("queued", "running")
                      and s, 240, "the job to finish")
    seen.add(done["status"])
    assert "interrupted" not in seen and done["status"] == "done" and done["attempts"] == 1, done


def test_ingest_map_and_review_against_a_chroma_server(shared_env):
    import chromadb

    from rag.index import VectorIndex
    from rag.settings import Settings

    with sample_dir() as sample:
        ingested = json.loads(cli("ingest", str(sample / "policies"), "--json"))
    assert sum(r["status"] == "ingested" for r in ingested) >= 16
    mapped = json.loads(cli("map", "-f", "soc2-tsc-2017", "--json"))
    assert mapped["saved"]["created"] > 0
    proposal = json.loads(cli("review", "list", "--framework", "soc2-tsc-2017", "--json"))[0]
    cli("review", "approve", str(proposal["id"]), "-m", "seen", "--as", "tester")
    approved = json.loads(cli("review", "list", "--status", "approved", "--json"))
    assert [p["id"] for p in approved] == [proposal["id"]]
    assert "audit chain intact" in cli("audit", "verify")
    # the vectors live in the server's collection, and nothing was written under the data directory
    port = int(shared_env["CTRLMAP_CHROMA_URL"].rsplit(":", 1)[1])
    collection = VectorIndex(Settings.load(), _Model()).collection_name(shared_env["CTRLMAP_WORKSPACE"])
    assert chromadb.HttpClient(host="127.0.0.1", port=port).get_collection(collection).count() > 100
    assert not (Path(shared_env["CTRLMAP_DATA_DIR"]) / "chroma").exists()


def test_chroma_server_must_be_private(monkeypatch):
    from rag.errors import ConfigError
    from rag.index import check_chroma_url, require_shared_index
    from rag.settings import Settings

    with pytest.raises(ConfigError, match="public address"):
        check_chroma_url("http://8.8.8.8:8000")
    with pytest.raises(ConfigError, match="CTRLMAP_CHROMA_URL"):
        require_shared_index(Settings.load())
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code != 0 and "Chroma server" in result.output


class _Model:
    model_name = "l2_supercat_256"


def test_llm_replies_are_cached_in_the_shared_database(database_url, tmp_path):
    from rag.context import Context
    from rag.llm import ResponseCache, open_cache
    from rag.settings import Settings

    settings = Settings.load("offline", database_url=database_url, data_dir=tmp_path / "data")
    Context(settings).store.dispose()  # opening the store brings the schema to the newest revision
    cache = open_cache(settings)
    assert not isinstance(cache, ResponseCache)  # not a file of one host's data directory
    assert cache.get("k" * 64) is None
    cache.put("k" * 64, "gpt-4o-mini", "judge@1", {"data": {"verdicts": []}, "model": "gpt-4o-mini"})
    cache.put("k" * 64, "gpt-4o-mini", "judge@1", {"data": "a second writer"})  # the first reply stays
    again = open_cache(Settings.load("offline", database_url=database_url))
    assert again.get("k" * 64) == {"data": {"verdicts": []}, "model": "gpt-4o-mini"}


def test_queued_ingest_then_mapping_run_by_a_worker(tmp_path, monkeypatch):
    """The embedded setup (SQLite, embedded Chroma): jobs queued from the CLI, run by a worker, with progress."""
    from rag import jobs
    from rag.context import Context

    monkeypatch.setenv("CTRLMAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CTRLMAP_PRESET", "offline")
    with sample_dir() as sample:
        queued = json.loads(cli("jobs", "ingest", str(sample / "policies"), "--map", "--json"))
        assert queued["status"] == "queued" and queued["kind"] == "ingest"
        ctx = Context()
        worker = jobs.Worker(ctx)
        assert worker.run_one()  # the ingest, which queues the mapping run
    assert worker.run_one() and not worker.run_one()
    ctx.close()
    listed = {j["kind"]: j for j in json.loads(cli("jobs", "list", "--json"))}
    assert listed["ingest"]["status"] == "done" and listed["ingest"]["stats"]["counts"]["ingested"] >= 16
    assert listed["mapping"]["status"] == "done" and listed["mapping"]["progress"] == 1.0
    assert listed["ingest"]["stats"]["mapping_job"] == listed["mapping"]["id"]
    missing = CliRunner().invoke(app, ["jobs", "show", "nope"])
    assert missing.exit_code != 0 and "no job nope" in missing.output


def api_children(server: Server) -> set[int]:
    """The API processes `serve --processes N` supervises (its children started by multiprocessing's spawn; no
    job workers were asked for, and multiprocessing's resource tracker is left out)."""
    out = subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", "multiprocessing.spawn"],
                         capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


def answer(url: str, headers: dict, tries: int = 5) -> int:
    """The status of a GET, retried when the connection itself fails (one made while the killed process's socket
    was closing is reset; a client retries it)."""
    for _ in range(tries - 1):
        try:
            return httpx.get(url, headers=headers, timeout=30).status_code
        except httpx.TransportError:
            time.sleep(0.3)
    return httpx.get(url, headers=headers, timeout=30).status_code


def test_api_processes_each_listen_and_a_dead_one_is_replaced(shared_env, servers):
    """`serve --processes 2`: two API processes, each with its own socket on the one port (the kernel spreads
    connections over them); one killed is started again, and requests keep being answered meanwhile."""
    key = seeded(shared_env)
    server = Server(shared_env, workers=0, processes=2)
    servers.append(server)
    server.ready()
    children = wait_until(lambda: (c := api_children(server)) and len(c) == 2 and c, 60, "two API processes")
    listening = subprocess.run(["ss", "-Hltnp", f"sport = :{server.port}"], capture_output=True, text=True).stdout
    if listening:  # ss shows one listening socket per process when each binds its own (SO_REUSEPORT)
        assert len(listening.strip().splitlines()) == 2, listening
    url = f"{server.url}/api/workspaces/{shared_env['CTRLMAP_WORKSPACE']}/documents"
    headers = {"Authorization": f"Bearer {key}"}
    os.kill(min(children), signal.SIGKILL)
    answered = [answer(url, headers) for _ in range(20)]  # fresh connections
    assert answered == [200] * 20
    replaced = wait_until(lambda: (c := api_children(server)) and len(c) == 2 and c != children and c, 120,
                          "a replacement API process")
    assert min(children) not in replaced
    assert httpx.get(url, headers=headers, timeout=30).status_code == 200


def test_workers_stop_when_the_serve_that_started_them_is_stopped(shared_env, servers):
    """`serve --workers 1` stopped with SIGTERM (as a service manager does): its worker stops too."""
    server = Server(shared_env, workers=1)
    servers.append(server)
    server.ready()
    worker = wait_until(lambda: subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", " worker"],
                                               capture_output=True, text=True).stdout.split(), 60, "the worker")
    os.kill(server.process.pid, signal.SIGTERM)
    server.process.wait(30)
    wait_until(lambda: not os.path.exists(f"/proc/{worker[0]}") or
               open(f"/proc/{worker[0]}/stat").read().split()[2] == "Z", 30, "the worker to stop")
