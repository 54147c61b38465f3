"""Where a run's groups of hosts are simulated: in this process, in a local pool of
spawned processes, or on a Dask distributed cluster.

Each yields ``(group index, part)`` as groups finish, in whatever order they finish;
:mod:`rassim.run.parts` puts them back in order. Hosts never interact, so a fleet run
is an embarrassingly parallel map of :func:`~rassim.run.hosts.simulate_group` over the
groups.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from rassim.errors import ConfigError, RunFailed
from rassim.interrupts import as_completed_checked, deferred_interrupts
from rassim.provenance import code_identity
from rassim.run.hosts import Part, Seed, describe, simulate_group
from rassim.scenario import Scenario

Progress = Callable[[int], None]  # told each time n more hosts are done
Done = Iterator[tuple[int, Part]]


def in_process(
    scenario: Scenario, seed: Seed, groups: list[range], progress: Progress | None
) -> Done:
    """One group after the other, here, its tables left as DataFrames; progress after
    every host."""
    for index, hosts in enumerate(groups):
        yield index, simulate_group(scenario, seed, hosts, progress)


def local_pool(
    scenario: Scenario, seed: Seed, groups: list[range], workers: int, progress: Progress | None
) -> Done:
    """Every group in a pool of spawned processes, which send its tables as Arrow.
    Ctrl-C and SIGTERM are held while the pool is set up and let through between waits,
    so they never land inside its bookkeeping; pending groups are then cancelled."""
    context = multiprocessing.get_context("spawn")  # workers are our children: no fork
    with deferred_interrupts() as held:
        pool = ProcessPoolExecutor(
            min(workers, len(groups)),
            mp_context=context,
            initializer=worker_setup,
            initargs=(os.getpid(),),
        )
        try:
            futures = {
                pool.submit(simulate_group, scenario, seed, hosts, arrow=True): index
                for index, hosts in enumerate(groups)
            }
            for future in as_completed_checked(set(futures), held):
                index = futures[future]
                yield index, future.result()
                if progress is not None:
                    progress(len(groups[index]))
        finally:
            pool.shutdown(cancel_futures=True)


def worker_setup(owner: int) -> None:
    """Initializer of a worker process: Ctrl-C and SIGTERM are left to the pool's
    ``owner``, which stops the pool cleanly (pending work is cancelled, running work
    finishes), and the worker exits once the owner is gone (it would otherwise wait for
    work forever), even if the owner died while the worker was starting."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()  # the owner, or a forkserver that exits with it

    def watch() -> None:
        while os.getppid() == parent and _running(owner):  # orphans are reparented
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rassim-owner-watch", daemon=True).start()


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:  # no /proc: trust kill()
        return True


def check_scheduler(address: str) -> None:
    """A Dask scheduler address looks like ``tcp://HOST:PORT`` (or ``HOST:PORT``)."""
    if not re.fullmatch(r"([a-z]+://)?(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):\d+", address):
        raise ConfigError(f"--scheduler {address!r}: expected an address like tcp://HOST:8786")


def connect(address: str):
    """A client of the Dask scheduler at ``address`` (``tcp://HOST:PORT``), whose workers
    run the code this process runs (:func:`check_workers`)."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--scheduler needs dask.distributed: pip install 'dask[distributed]'"
        ) from None
    try:
        client = Client(address, timeout=10, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ConfigError(f"--scheduler {address}: cannot connect: {error}") from None
    try:
        check_workers(client, address)
    except BaseException:
        client.close()
        raise
    return client


def check_workers(client, address: str, ours: dict[str, str] | None = None) -> None:
    """Refuse a cluster whose workers would run other code than ``ours`` (this process's
    :func:`code_identity`): another rassim, or other versions of the libraries it draws
    and tabulates with, would give other tables than a local run with the same seed.
    Workers that join later are not checked."""
    ours = code_identity() if ours is None else ours
    try:
        theirs = client.run(code_identity)
    except Exception as error:  # rassim missing on a worker, ...
        reason = f"{type(error).__name__}: {' '.join(str(error).split())}"
        raise ConfigError(
            f"--scheduler {address}: rassim does not run on the workers: {reason}"
        ) from None
    for worker, identity in sorted(theirs.items()):
        differ = [
            f"{name} {identity.get(name, 'unknown')} there, {here} here"
            for name, here in ours.items()
            if identity.get(name) != here
        ]
        if differ:
            raise ConfigError(
                f"--scheduler {address}: worker {worker} runs other code "
                f"({'; '.join(differ)}), so its runs would differ from local ones: "
                "install this rassim and these versions on every worker"
            )


def cluster_threads(client) -> int:
    """How many groups the cluster runs at once: its worker threads."""
    return max(1, sum(client.nthreads().values()))


def on_cluster(
    client, scenario: Scenario, seed: Seed, groups: list[range], progress: Progress | None
) -> Done:
    """Every group as a task on the Dask cluster of ``client``, which sends its tables as
    Arrow; a group that fails (raises, or its worker dies) is tried once more, and a
    second failure ends the run naming the group's hosts. Pending groups are cancelled
    if the run stops early."""
    from distributed import as_completed

    scenario_future = client.scatter(scenario, broadcast=True)
    pending = {
        client.submit(
            simulate_group,
            scenario_future,
            seed,
            hosts,
            arrow=True,
            pure=False,
            retries=1,
            key=_key(hosts),
        ): index
        for index, hosts in enumerate(groups)
    }
    try:
        for future in as_completed(list(pending), loop=client.loop):
            index = pending.pop(future)
            try:
                part = future.result()
            except Exception as error:
                raise RunFailed(
                    f"{describe(groups[index])} failed twice on the cluster: "
                    f"{type(error).__name__}: {' '.join(str(error).split())}"
                ) from error
            future.release()
            yield index, part
            if progress is not None:
                progress(len(groups[index]))
    finally:
        if pending:
            client.cancel(list(pending))


def _key(hosts: range) -> str:
    """A unique task name that says which hosts it runs (seen on the Dask dashboard)."""
    return f"rassim-hosts-{hosts.start}-{hosts.stop - 1}-{os.urandom(6).hex()}"
