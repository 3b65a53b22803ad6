"""The LocalCluster the dask tests run on, in one place."""

import contextlib


@contextlib.contextmanager
def strict_local_cluster(worker_memory, **config):
    """A client of two worker processes, one thread each, on 127.0.0.1,
    closed afterwards.

    Spilling to disk and pausing are off and a task gets no second try, so a
    worker that outgrew its memory limit (``worker_memory`` bytes) would be
    killed at 95% of it and the computation would fail, instead of writing to
    disk or waiting forever. ``config`` adds dask settings.
    """
    import dask
    import distributed

    strict_memory = {
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.scheduler.allowed-failures": 0,
        **config,
    }
    with dask.config.set(strict_memory):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=worker_memory,
        )
    client = distributed.Client(cluster, timeout="120s")
    try:
        client.wait_for_workers(2, timeout=120)
        yield client
    finally:
        client.close()
        cluster.close()
