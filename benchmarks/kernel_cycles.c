/*
 * The fit kernel in a C harness: cycles per value of one pass of the
 * unweighted shifted sums (shifted_sums_f64 / _f32 of _dense_kernels.h,
 * included as it is, or as kernel_cycles.py rewrites it for a candidate),
 * cut into blocks of SUM_BLOCK_VALUES values as py_shifted_sums cuts them,
 * and, beside it, a plain sum of the same values (what X.sum() does: one
 * read, in eight lanes). Built and run by kernel_cycles.py; see there.
 *
 *     kernel_cycles WIDTH f32|f64 BYTES THREADS REPEATS
 *     kernel_cycles avx512
 *
 * prints one line: 1 if narrow rows take the AVX-512 path here, else 0; or
 * the kernel's and the plain sum's time stamp counter ticks per value, the
 * minimum and the median of the repeats. Each of THREADS threads sums its
 * own share of the rows, as BatchNormScaler's threads take chunks of X; a
 * pass ends when the last thread is done. The time stamp counter runs at the processor's nominal
 * frequency, whatever the clock of the core.
 */
#include <float.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <x86intrin.h>

#define HUGE_PAGE (2 << 20)

typedef ptrdiff_t Py_ssize_t;
#define RESTRICT restrict
/* The clones of _kernels.c, passed by kernel_cycles.py as it reads them,
   and the AVX-512 path of narrow rows, taken as the package takes it (where
   the processor has it and SKLEARN_BN_NO_AVX512 is not set). */
#define MULTIVERSION __attribute__((target_clones(CLONES)))
#define MULTIVERSIONED 1

/* _dense_kernels.h, copied by kernel_cycles.py with its candidate changes. */
#include "kernels.h"

/* One block of rows into scratch, then added to the totals, as
   py_shifted_sums does it. */
static void
fit_pass(const void *X, int f64, Py_ssize_t n_rows, Py_ssize_t n_features,
         const double *shift, double *totals, double *scratch)
{
    const Py_ssize_t step =
        n_features < SUM_BLOCK_VALUES ? SUM_BLOCK_VALUES / n_features : 1;
    const Py_ssize_t item = f64 ? sizeof(double) : sizeof(float);
    for (Py_ssize_t start = 0; start < n_rows; start += step) {
        const Py_ssize_t rows = n_rows - start < step ? n_rows - start : step;
        const void *block = (const char *)X + start * n_features * item;
        memset(scratch, 0, 3 * (size_t)n_features * sizeof(double));
        if (f64)
            shifted_sums_f64(block, rows, n_features, shift, NULL, scratch,
                             scratch + n_features);
        else
            shifted_sums_f32(block, rows, n_features, shift, NULL, scratch,
                             scratch + n_features);
        for (Py_ssize_t j = 0; j < 2 * n_features; j++)
            totals[j] += scratch[j];
    }
}

/* The plain sum of n values in eight lanes, which GCC vectorizes. */
#define PLAIN_SUM(NAME, TYPE)                                                  \
    MULTIVERSION static double NAME(const TYPE *x, Py_ssize_t n)              \
    {                                                                          \
        TYPE lanes[8] = {0};                                                   \
        Py_ssize_t k = 0;                                                      \
        for (; k + 8 <= n; k += 8)                                             \
            for (int l = 0; l < 8; l++)                                        \
                lanes[l] += x[k + l];                                          \
        double total = 0.0;                                                    \
        for (; k < n; k++)                                                     \
            total += x[k];                                                     \
        for (int l = 0; l < 8; l++)                                            \
            total += lanes[l];                                                 \
        return total;                                                          \
    }
PLAIN_SUM(plain_sum_f64, double)
PLAIN_SUM(plain_sum_f32, float)

static volatile double sink;

typedef struct {
    const char *X;
    int f64, plain;
    Py_ssize_t n_rows, n_features;
    const double *shift;
    double *totals, *scratch, checksum;
    pthread_barrier_t *start, *end;
    int repeats;
} share;

static void
run_once(share *s)
{
    if (s->plain) {
        const Py_ssize_t n = s->n_rows * s->n_features;
        s->checksum += s->f64 ? plain_sum_f64((const double *)s->X, n)
                              : plain_sum_f32((const float *)s->X, n);
    } else {
        fit_pass(s->X, s->f64, s->n_rows, s->n_features, s->shift, s->totals,
                 s->scratch);
    }
}

static void *
helper(void *arg)
{
    share *s = arg;
    for (int r = 0; r < s->repeats; r++) {
        pthread_barrier_wait(s->start);
        run_once(s);
        pthread_barrier_wait(s->end);
    }
    return NULL;
}

static int
by_value(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Ticks of each repeat of one pass (the kernel's or the plain sum's) over X
   on n_threads threads, the calling thread among them. */
static void
time_passes(share *shares, int n_threads, int repeats, uint64_t *ticks)
{
    pthread_barrier_t start, end;
    pthread_barrier_init(&start, NULL, n_threads);
    pthread_barrier_init(&end, NULL, n_threads);
    pthread_t threads[64];
    for (int t = 0; t < n_threads; t++) {
        shares[t].start = &start;
        shares[t].end = &end;
        shares[t].repeats = repeats;
    }
    for (int t = 1; t < n_threads; t++)
        pthread_create(&threads[t], NULL, helper, &shares[t]);
    for (int r = 0; r < repeats; r++) {
        pthread_barrier_wait(&start);
        const uint64_t t0 = __rdtsc();
        run_once(&shares[0]);
        pthread_barrier_wait(&end);
        ticks[r] = __rdtsc() - t0;
    }
    for (int t = 1; t < n_threads; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
}

int
main(int argc, char **argv)
{
    init_avx512();
    if (argc == 2 && strcmp(argv[1], "avx512") == 0) {
        /* Whether narrow rows take the AVX-512 path here, as the package
           decides it. */
        printf("%d\n", use_avx512);
        return 0;
    }
    if (argc != 6) {
        fprintf(stderr,
                "usage: %s WIDTH f32|f64 BYTES THREADS REPEATS, or %s avx512\n",
                argv[0], argv[0]);
        return 2;
    }
    const Py_ssize_t n_features = atol(argv[1]);
    const int f64 = strcmp(argv[2], "f64") == 0;
    const size_t item = f64 ? sizeof(double) : sizeof(float);
    const int n_threads = atoi(argv[4]), repeats = atoi(argv[5]);
    const Py_ssize_t n_rows =
        (Py_ssize_t)(atof(argv[3]) / (item * n_features) / n_threads) *
        n_threads;
    const size_t n = (size_t)n_rows * n_features;
    /* On huge pages where the kernel has them, as numpy asks for its large
       arrays (madvise), so that X is read as the package reads numpy's. */
    const size_t bytes = (n * item + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    char *X = aligned_alloc(HUGE_PAGE, bytes);
    double *shift = malloc(n_features * sizeof(double));
    if (!X || !shift || n_threads < 1 || n_threads > 64 || n_rows < 1)
        return 1;
    madvise(X, bytes, MADV_HUGEPAGE);
    /* Values near 10 with a spread of 3, as bench_scaler's data, and the
       first row as the shift, as the fit takes it. */
    uint64_t state = 88172645463325252ull;
    for (size_t k = 0; k < n; k++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        const double value = 10.0 + 6.0 * ((double)(state >> 11) / 0x1p53 - 0.5);
        if (f64)
            ((double *)X)[k] = value;
        else
            ((float *)X)[k] = (float)value;
    }
    for (Py_ssize_t j = 0; j < n_features; j++)
        shift[j] = f64 ? ((double *)X)[j] : ((float *)X)[j];

    share shares[64];
    const Py_ssize_t rows_each = n_rows / n_threads;
    for (int t = 0; t < n_threads; t++) {
        shares[t] = (share){
            .X = X + (size_t)t * rows_each * n_features * item,
            .f64 = f64,
            .n_rows = rows_each,
            .n_features = n_features,
            .shift = shift,
            .totals = calloc(2 * n_features, sizeof(double)),
            .scratch = malloc(3 * n_features * sizeof(double)),
        };
    }
    uint64_t *kernel = malloc(repeats * sizeof(uint64_t));
    uint64_t *plain = malloc(repeats * sizeof(uint64_t));
    /* One pass of each first, for the caches, the pages and the checks. */
    for (int p = 1; p >= 0; p--) {
        for (int t = 0; t < n_threads; t++)
            shares[t].plain = p;
        time_passes(shares, n_threads, 1, kernel);
    }
    /* The kernel's sums against a plain loop, as a check of the harness. */
    double worst = 0.0;
    for (Py_ssize_t j = 0; j < n_features; j++) {
        double sum = 0.0, totals = 0.0;
        for (Py_ssize_t i = 0; i < n_rows / n_threads * n_threads; i++)
            sum += (f64 ? ((double *)X)[i * n_features + j]
                        : ((float *)X)[i * n_features + j]) - shift[j];
        for (int t = 0; t < n_threads; t++)
            totals += shares[t].totals[j];
        const double error = sum - totals;
        worst = error * error > worst ? error * error : worst;
    }
    if (worst > 1e-12 * (double)n_rows * n_rows) {
        fprintf(stderr, "the kernel's sums are off: %g\n", worst);
        return 1;
    }
    /* Interleaved, so that a slow spell of the machine hits both. */
    uint64_t one[2];
    for (int r = 0; r < repeats; r++) {
        for (int p = 0; p < 2; p++) {
            for (int t = 0; t < n_threads; t++)
                shares[t].plain = p;
            time_passes(shares, n_threads, 1, one);
            (p ? plain : kernel)[r] = one[0];
        }
    }
    qsort(kernel, repeats, sizeof(uint64_t), by_value);
    qsort(plain, repeats, sizeof(uint64_t), by_value);
    printf("%.4f %.4f %.4f %.4f\n", (double)kernel[0] / n,
           (double)kernel[repeats / 2] / n, (double)plain[0] / n,
           (double)plain[repeats / 2] / n);
    sink = shares[0].checksum; /* so that the plain sums are computed */
    return 0;
}
