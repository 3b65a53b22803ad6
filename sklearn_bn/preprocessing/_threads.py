"""Threads for the passes over large dense arrays, within the BLAS limits."""

import functools
import os
import threading

# Below this size, starting threads costs more than it saves.
THREADED_BYTES = 32 * 2**20

# The numpy code works on blocks of about this many values (256 KiB of
# float64): its temporaries stay in the CPU cache and small whatever the size
# of X.
BLOCK_VALUES = 1 << 15


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

    The calling thread works too, with ``n_threads - 1`` helpers from a pool
    kept for the process (starting threads cost a quarter of a 10 ms sparse
    fit). Each thread takes the next block as soon as it is done with one, so
    a core held up by a page fault or a neighbouring process does less of the
    work, rather than making the other wait at the end; and should no helper
    be free (other calls keep them busy) the caller does all the blocks
    itself, waiting only for the helpers that started. Results are in row
    order. After an error the threads take no more blocks, and the error is
    raised once the helpers are done with theirs.
    """
    starts = range(0, n_rows, step)
    n_threads = min(n_threads, len(starts))
    if n_threads <= 1:
        return [work(start) for start in starts]
    import concurrent.futures

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

    pool = _helper_pool()
    helpers = [pool.submit(drain) for _ in range(n_threads - 1)]
    try:
        drain()
    finally:
        with lock:  # after an error here, the helpers take no more blocks
            queue = iter(())
        # A helper that has not started is not needed (and may wait behind
        # this very call, if it runs in a helper itself): only those that
        # have are waited for.
        started = [helper for helper in helpers if not helper.cancel()]
        concurrent.futures.wait(started)
    for helper in started:
        helper.result()  # raises a helper's error
    return results


_pool = None
_pool_lock = threading.Lock()


def _helper_pool():
    """The process's pool of helper threads, made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(
                max_workers=max(1, (os.cpu_count() or 1) - 1),
                thread_name_prefix="sklearn_bn",
            )
        return _pool


def _forget_pool():
    """In a child made by ``fork``: none of the parent's threads exist there,
    and the lock may have been held by one of them."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
