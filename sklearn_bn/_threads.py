"""Threads for the passes over large dense arrays, within the BLAS limits."""

import functools
import os

# Below this size, starting threads costs more than it saves.
THREADED_BYTES = 32 * 2**20


def n_threads(X, threaded_bytes=THREADED_BYTES):
    """Threads for the statistics of a large X: the cores, within BLAS limits.

    An X smaller than ``threaded_bytes`` gets one thread. Otherwise the cores,
    capped by the smallest thread limit of the loaded BLAS and OpenMP pools,
    so that ``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS`` are
    respected.
    """
    if X.nbytes < threaded_bytes:
        return 1
    limits = [pool.num_threads for pool in thread_pools().lib_controllers]
    return max(1, min([os.cpu_count() or 1, *limits]))


@functools.cache
def thread_pools():
    """The BLAS and OpenMP pools loaded now; finding them reads the process
    map (milliseconds), asking each its current limit is cheap."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def run_on_blocks(work, n_rows, step, n_threads):
    """``[work(start) for start in range(0, n_rows, step)]``, in threads.

    Each thread takes the next block as soon as it is done with one, so a core
    held up by a page fault or a neighbouring process does less of the work,
    rather than making the other wait at the end. Results are in row order.
    After an error the threads take no more blocks, and the error is raised.
    """
    starts = range(0, n_rows, step)
    n_threads = min(n_threads, len(starts))
    if n_threads <= 1:
        return [work(start) for start in starts]
    import threading
    from concurrent.futures import ThreadPoolExecutor

    results = [None] * len(starts)
    queue = iter(enumerate(starts))
    lock = threading.Lock()

    def drain():
        nonlocal queue
        while True:
            with lock:
                index, start = next(queue, (None, None))
            if index is None:
                return
            try:
                results[index] = work(start)
            except BaseException:
                with lock:
                    queue = iter(())
                raise

    with ThreadPoolExecutor(n_threads) as pool:
        for future in [pool.submit(drain) for _ in range(n_threads)]:
            future.result()
    return results
