/*
 * The dense kernels of _kernels.c: shifted sums (with and without NaN) over
 * rows of X, and the affine map of transform, each in one pass at the speed
 * of memory. Included by _kernels.c, once; not a header of its own.
 */

/*
 * The kernels stream X from memory. The hardware prefetcher stops at each
 * 4 KiB page, and with the stores of the sums in the loop it falls behind:
 * asking for the data this many bytes ahead reads X about a fifth faster
 * (float32 up to a third), within a few percent of a plain sum. A row is
 * processed in segments of SEGMENT values, each after asking for the one
 * PREFETCH_BYTES ahead; prefetching never faults, so past the end of X is
 * fine, and the address is computed as an integer, not a pointer.
 */
#define PREFETCH_BYTES 4096
#define SEGMENT 256
#if defined(__GNUC__)
#define PREFETCH(address) __builtin_prefetch((const void *)(address))
#else
#define PREFETCH(address) ((void)0)
#endif

static inline void
prefetch_ahead(const void *start, Py_ssize_t n_bytes, Py_ssize_t distance)
{
    const uintptr_t first = (uintptr_t)start + (uintptr_t)distance;
    for (Py_ssize_t b = 0; b < n_bytes; b += 64)
        PREFETCH(first + (uintptr_t)b);
}

/* The statements after `row` for each segment [j0_, j1_) of the columns of
   `row`, from 0 to n_features, each after a prefetch `distance_` bytes ahead
   for `n_rows_` rows from `row` on. */
#define FOR_SEGMENTS_OF_ROWS(row, n_rows_, distance_, ...)                     \
    for (Py_ssize_t j0_ = 0; j0_ < n_features; j0_ += SEGMENT) {               \
        const Py_ssize_t j1_ =                                                 \
            n_features - j0_ < SEGMENT ? n_features : j0_ + SEGMENT;           \
        for (Py_ssize_t r_ = 0; r_ < (n_rows_); r_++)                          \
            prefetch_ahead(row + r_ * n_features + j0_,                        \
                           (j1_ - j0_) * (Py_ssize_t)sizeof(*row), distance_); \
        __VA_ARGS__                                                            \
    }
/* The same for each column j of `row`. */
#define FOR_COLUMNS_OF_ROWS(row, n_rows_, distance_, ...)                      \
    FOR_SEGMENTS_OF_ROWS(row, n_rows_, distance_,                              \
        for (Py_ssize_t j = j0_; j < j1_; j++) {                               \
            __VA_ARGS__                                                        \
        }                                                                      \
    )
#define FOR_COLUMNS(row, ...)                                                  \
    FOR_COLUMNS_OF_ROWS(row, 1, PREFETCH_BYTES, __VA_ARGS__)

/*
 * Without weights, rows of fewer than NARROW_ROW_BYTES bytes take
 * ROWS_PER_PASS rows per pass over the sums: a sum is loaded once, takes the
 * deviation of each row in turn, as row by row (so the bits are the same),
 * and is stored once. Row by row, the loads and stores of the sums cost more
 * than the deviations: with X in the cache, 4 rows a pass take about two
 * thirds of the cycles per value (benchmarks/kernel_cycles.py). From memory,
 * on an Intel Xeon with two threads, narrow rows read 4 a pass and
 * NARROW_PREFETCH_BYTES ahead take 1.2 to 1.5 times a plain sum's time (row
 * by row, 4 KiB ahead: 1.6 to 1.9); rows of 1000 values read 4 a pass ran
 * slower than row by row, so wide rows keep to one a pass, 4 KiB ahead.
 */
#define ROWS_PER_PASS 4
#define NARROW_ROW_BYTES 2048
#define NARROW_PREFETCH_BYTES 1024

/*
 * Narrow rows on a processor with AVX-512 (chosen at run time, where the
 * kernels are multiversioned): the same passes of ROWS_PER_PASS rows, eight
 * columns a step, the last columns of a segment under a mask. Each sum takes
 * the rows' deviations in the same order and each square is rounded before
 * it is added (no fused multiply-add), so the bits are those of the loop in
 * SHIFTED_SUMS. On a 2-core Intel Xeon, a fit of rows of 70 values (ten
 * columns, seven rows to a row) took 0.05 to 0.07 times the two-core read of
 * X less than with the AVX2 clone, rows of 100 values 0.00 to 0.02 (six pairs
 * of processes, one of each with SKLEARN_BN_NO_AVX512 set); for wide rows,
 * one a pass, AVX-512 was no faster, and they keep to the AVX2 clone.
 * Returns the rows summed, a multiple of ROWS_PER_PASS; the caller sums the
 * rest.
 */
#if MULTIVERSIONED
#include <immintrin.h>

/* Set once when the module loads: AVX-512 (F and VL) is there, and the
   environment variable SKLEARN_BN_NO_AVX512 is not set. */
static int use_avx512 = 0;

static void
init_avx512(void)
{
    __builtin_cpu_init();
    use_avx512 = __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512vl") &&
                 !getenv("SKLEARN_BN_NO_AVX512");
}

#define LOAD8_double(mask, p) _mm512_maskz_loadu_pd(mask, p)
#define LOAD8_float(mask, p) _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, p))

#define NARROW_SUMS_AVX512(NAME, TYPE)                                         \
    __attribute__((target("avx512f,avx512vl"))) static Py_ssize_t NAME(        \
        const TYPE *RESTRICT X, Py_ssize_t n_rows, Py_ssize_t n_features,      \
        const double *RESTRICT shift, double *RESTRICT dev_sum,                \
        double *RESTRICT dev_sq)                                               \
    {                                                                          \
        Py_ssize_t i = 0;                                                      \
        for (; i + ROWS_PER_PASS <= n_rows; i += ROWS_PER_PASS) {              \
            const TYPE *row = X + i * n_features;                              \
            FOR_SEGMENTS_OF_ROWS(row, ROWS_PER_PASS, NARROW_PREFETCH_BYTES,    \
                for (Py_ssize_t j = j0_; j < j1_; j += 8) {                    \
                    const __mmask8 m = j1_ - j >= 8                            \
                                           ? (__mmask8)0xff                    \
                                           : (__mmask8)((1u << (j1_ - j)) - 1);\
                    const __m512d s = _mm512_maskz_loadu_pd(m, shift + j);     \
                    __m512d sum = _mm512_maskz_loadu_pd(m, dev_sum + j);       \
                    __m512d sq = _mm512_maskz_loadu_pd(m, dev_sq + j);         \
                    for (int r = 0; r < ROWS_PER_PASS; r++) {                  \
                        const __m512d d = _mm512_sub_pd(                       \
                            LOAD8_##TYPE(m, row + r * n_features + j), s);     \
                        sum = _mm512_add_pd(sum, d);                           \
                        sq = _mm512_add_pd(sq, _mm512_mul_pd(d, d));           \
                    }                                                          \
                    _mm512_mask_storeu_pd(dev_sum + j, m, sum);                \
                    _mm512_mask_storeu_pd(dev_sq + j, m, sq);                  \
                }                                                              \
            )                                                                  \
        }                                                                      \
        return i;                                                              \
    }

NARROW_SUMS_AVX512(narrow_sums_avx512_double, double)
NARROW_SUMS_AVX512(narrow_sums_avx512_float, float)
#define NARROW_SUMS(TYPE, ...)                                                 \
    (use_avx512 ? narrow_sums_avx512_##TYPE(__VA_ARGS__) : 0)
#else
#define NARROW_SUMS(TYPE, ...) 0
#endif

/*
 * Shifted sums over rows [0, n_rows) of X (n_rows x n_features):
 *     dev_sum[j] += sum_i w_i (x_ij - shift_j)
 *     dev_sq[j]  += sum_i w_i (x_ij - shift_j)^2
 * with w_i = 1 when there are no weights. NaN and inf propagate into the sums;
 * the caller checks them and takes another path for such a block.
 */
#define SHIFTED_SUMS(NAME, TYPE)                                               \
    MULTIVERSION static void NAME(const TYPE *RESTRICT X, Py_ssize_t n_rows,  \
                                  Py_ssize_t n_features,                       \
                                  const double *RESTRICT shift,                \
                                  const double *RESTRICT weights,              \
                                  double *RESTRICT dev_sum,                    \
                                  double *RESTRICT dev_sq)                     \
    {                                                                          \
        Py_ssize_t i = 0;                                                      \
        const Py_ssize_t row_bytes = n_features * (Py_ssize_t)sizeof(TYPE);    \
        const int narrow = !weights && row_bytes < NARROW_ROW_BYTES;           \
        if (narrow)                                                            \
            i = NARROW_SUMS(TYPE, X, n_rows, n_features, shift, dev_sum,       \
                            dev_sq);                                           \
        for (; narrow && i + ROWS_PER_PASS <= n_rows; i += ROWS_PER_PASS) {    \
            const TYPE *row = X + i * n_features;                              \
            FOR_COLUMNS_OF_ROWS(row, ROWS_PER_PASS, NARROW_PREFETCH_BYTES,     \
                const double s = shift[j];                                     \
                double sum = dev_sum[j], sq = dev_sq[j];                       \
                for (int r = 0; r < ROWS_PER_PASS; r++) {                      \
                    const double d = (double)row[r * n_features + j] - s;      \
                    sum += d;                                                  \
                    sq += d * d;                                               \
                }                                                              \
                dev_sum[j] = sum;                                              \
                dev_sq[j] = sq;                                                \
            )                                                                  \
        }                                                                      \
        /* The rows left, and all rows with weights, one by one. Without      \
           weights, a loop of its own: multiplying by a weight of 1 changes   \
           no bit and costs float32 a third of its speed. */                  \
        for (; i < n_rows; i++) {                                              \
            const TYPE *row = X + i * n_features;                              \
            if (!weights) {                                                    \
                FOR_COLUMNS(row,                                               \
                    const double d = (double)row[j] - shift[j];                \
                    dev_sum[j] += d;                                           \
                    dev_sq[j] += d * d;                                        \
                )                                                              \
                continue;                                                      \
            }                                                                  \
            const double w = weights[i];                                       \
            FOR_COLUMNS(row,                                                   \
                const double d = (double)row[j] - shift[j];                    \
                dev_sum[j] += w * d;                                           \
                dev_sq[j] += w * d * d;                                        \
            )                                                                  \
        }                                                                      \
    }

SHIFTED_SUMS(shifted_sums_f64, double)
SHIFTED_SUMS(shifted_sums_f32, float)

/* The sums are taken over blocks of about this many values (see
   py_shifted_sums). */
#define SUM_BLOCK_VALUES (1 << 16)

/*
 * The same sums skipping NaN, and the weight of the values summed:
 *     count[j] += sum_i w_i [x_ij is not NaN]
 * An infinity still propagates into the sums. A NaN's deviation and weight
 * are zeroed with a bit mask: GCC keeps a loop with a branch, or with a
 * select of floats, scalar; with the masks it vectorizes it.
 */
static inline double
zero_if_nan(double value, int present)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    bits &= -(uint64_t)present;
    memcpy(&value, &bits, sizeof value);
    return value;
}

#define SHIFTED_SUMS_SKIPPING_NAN(NAME, TYPE)                                  \
    MULTIVERSION static void NAME(                                             \
        const TYPE *RESTRICT X, Py_ssize_t n_rows, Py_ssize_t n_features,      \
        const double *RESTRICT shift, const double *RESTRICT weights,         \
        double *RESTRICT dev_sum, double *RESTRICT dev_sq,                     \
        double *RESTRICT count)                                                \
    {                                                                          \
        for (Py_ssize_t i = 0; i < n_rows; i++) {                              \
            const TYPE *row = X + i * n_features;                              \
            if (!weights) { /* as in SHIFTED_SUMS */                           \
                FOR_COLUMNS(row,                                               \
                    const double x = (double)row[j];                           \
                    const double d = zero_if_nan(x - shift[j], x == x);        \
                    dev_sum[j] += d;                                           \
                    dev_sq[j] += d * d;                                        \
                    count[j] += zero_if_nan(1.0, x == x);                      \
                )                                                              \
                continue;                                                      \
            }                                                                  \
            const double w = weights[i];                                       \
            FOR_COLUMNS(row,                                                   \
                const double x = (double)row[j];                               \
                const double d = zero_if_nan(x - shift[j], x == x);            \
                dev_sum[j] += w * d;                                           \
                dev_sq[j] += w * d * d;                                        \
                count[j] += zero_if_nan(w, x == x);                            \
            )                                                                  \
        }                                                                      \
    }

SHIFTED_SUMS_SKIPPING_NAN(shifted_sums_nan_f64, double)
SHIFTED_SUMS_SKIPPING_NAN(shifted_sums_nan_f32, float)

/*
 * out_ij = (x_ij - center_j) * factor_j + offset_j, or x_ij * factor_j +
 * offset_j without a center, computed in double and rounded once to the
 * output's type: a float32 X keeps the digits of a float64 center, and a
 * float64 factor beyond float32's range still gives a representable output
 * where there is one. NaN stays NaN. Returns 1 if X holds an infinity or an
 * output overflows its type (an error for the caller to raise), else 0. The
 * check is an integer OR of comparisons, with no branch, so that the compiler
 * vectorizes it with the rest of the loop. Without `write`, nothing is
 * written: a caller working in place checks all of X before changing it.
 */
#define AFFINE_ROWS(TYPE, MAX, VALUE, STORE)                                   \
    for (Py_ssize_t i = 0; i < n_rows; i++) {                                  \
        const TYPE *row = X + i * n_features;                                  \
        TYPE *dest = out + i * n_features;                                     \
        for (Py_ssize_t j = 0; j < n_features; j++) {                          \
            /* Compared in TYPE: for float32, twice the lanes of double. */    \
            const TYPE in = row[j];                                            \
            const double x = (double)in;                                       \
            const TYPE y = (TYPE)(VALUE);                                      \
            overflow |= (in > MAX) | (in < -MAX) | (y > MAX) | (y < -MAX);     \
            STORE;                                                             \
        }                                                                      \
    }

#define AFFINE_MAP(NAME, TYPE, MAX)                                            \
    MULTIVERSION static int NAME(                                              \
        const TYPE *X, TYPE *out, Py_ssize_t n_rows, Py_ssize_t n_features,    \
        const double *RESTRICT factor, const double *RESTRICT offset,          \
        const double *RESTRICT center, int write)                              \
    {                                                                          \
        int overflow = 0;                                                      \
        if (center && write)                                                   \
            AFFINE_ROWS(TYPE, MAX, (x - center[j]) * factor[j] + offset[j],    \
                        dest[j] = y)                                     \
        else if (center)                                                       \
            AFFINE_ROWS(TYPE, MAX, (x - center[j]) * factor[j] + offset[j],    \
                        (void)dest)                                            \
        else if (write)                                                        \
            AFFINE_ROWS(TYPE, MAX, x * factor[j] + offset[j],                  \
                        dest[j] = y)                                     \
        else                                                                   \
            AFFINE_ROWS(TYPE, MAX, x * factor[j] + offset[j], (void)dest)      \
        return overflow;                                                       \
    }

AFFINE_MAP(affine_map_f64, double, DBL_MAX)
AFFINE_MAP(affine_map_f32, float, FLT_MAX)
