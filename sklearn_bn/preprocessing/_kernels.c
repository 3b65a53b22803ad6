/*
 * One-pass kernels for BatchNormScaler, on C-contiguous float32 or float64
 * rows. numpy needs four passes over a block for the shifted sums (subtract,
 * sum, square, sum), more with NaN, and three for the centered affine map;
 * these kernels do each in one pass, so fit and transform run at the speed
 * of memory. A third scales the stored entries of a CSR matrix by the factor
 * of their column without an array of gathered factors.
 *
 * They take buffers (any object with the buffer protocol, numpy arrays among
 * them), need no numpy headers, and release the GIL, so that the Python side
 * can run them on several row ranges in threads. Everything numerical that is
 * not a single pass (merging, precision fallbacks) stays in _stats.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* C99's restrict; MSVC spells it __restrict outside C11 mode. */
#if defined(_MSC_VER)
#define RESTRICT __restrict
#else
#define RESTRICT restrict
#endif

/*
 * On x86-64 Linux with GCC or clang, each kernel is also compiled for AVX2
 * and the loader picks the best version the processor runs (an ifunc), so
 * the build stays portable. Elsewhere, one portable version.
 */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) &&         \
    defined(__GLIBC__)
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif

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
prefetch_ahead(const void *start, Py_ssize_t n_bytes)
{
    const uintptr_t first = (uintptr_t)start + PREFETCH_BYTES;
    for (Py_ssize_t b = 0; b < n_bytes; b += 64)
        PREFETCH(first + (uintptr_t)b);
}

/* The statements after `row` for each column j of `row`, from 0 to
   n_features, segment by segment, each after a prefetch. */
#define FOR_COLUMNS(row, ...)                                                  \
    for (Py_ssize_t j0_ = 0; j0_ < n_features; j0_ += SEGMENT) {               \
        const Py_ssize_t j1_ =                                                 \
            n_features - j0_ < SEGMENT ? n_features : j0_ + SEGMENT;           \
        prefetch_ahead(row + j0_, (j1_ - j0_) * (Py_ssize_t)sizeof(*row));     \
        for (Py_ssize_t j = j0_; j < j1_; j++) {                               \
            __VA_ARGS__                                                        \
        }                                                                      \
    }

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
        /* Row by row: unrolling over rows measured slower for some widths   \
           (100 features: 2.5x), from cache conflicts between the rows.       \
           Without weights, a loop of its own: multiplying by a weight of 1  \
           changes no bit and costs float32 a third of its speed. */          \
        for (Py_ssize_t i = 0; i < n_rows; i++) {                              \
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

/*
 * The stored entries of a CSR matrix, each multiplied by the factor of its
 * column: out_k = data_k * factor[indices_k], in double and
 * rounded once. One pass, with no array of gathered factors. Sets *bad to
 * the position of an index outside [0, n_columns), or -1 when all are
 * inside; in place (out is data), the indices are all checked before
 * anything is written. Returns 1 if an entry is infinite or a result
 * overflows the type, else 0. The main loop has no branch, so that it
 * vectorizes (a gather on AVX2): an index out of range reads factor[0]
 * instead, and is looked for once the loop is done.
 */
#define SCALE_ENTRIES(NAME, TYPE, INDEX, MAX)                                  \
    static Py_ssize_t NAME##_first_bad(const INDEX *indices, Py_ssize_t n,     \
                                       uint64_t columns)                       \
    {                                                                          \
        for (Py_ssize_t k = 0; k < n; k++) {                                   \
            if ((uint64_t)indices[k] >= columns)                               \
                return k;                                                      \
        }                                                                      \
        return -1;                                                             \
    }                                                                          \
    MULTIVERSION static int NAME(const TYPE *data, const INDEX *indices,       \
                                 Py_ssize_t n, const double *factor,           \
                                 Py_ssize_t n_columns, TYPE *out,              \
                                 Py_ssize_t *bad)                              \
    {                                                                          \
        /* As unsigned, a negative index is out of range too. */              \
        const uint64_t columns = (uint64_t)n_columns;                          \
        int overflow = 0, outside = 0;                                         \
        if ((out == data || columns == 0) &&                                   \
            (*bad = NAME##_first_bad(indices, n, columns)) >= 0)               \
            return 0;                                                          \
        *bad = -1;                                                             \
        for (Py_ssize_t k = 0; k < n; k++) {                                   \
            const uint64_t j = (uint64_t)indices[k];                           \
            const int inside = j < columns;                                    \
            outside |= !inside;                                                \
            const double x = (double)data[k];                                  \
            const double y = x * factor[inside ? j : 0];                       \
            overflow |= (x > MAX) | (x < -MAX) | (y > MAX) | (y < -MAX);       \
            out[k] = (TYPE)y;                                                  \
        }                                                                      \
        if (outside)                                                           \
            *bad = NAME##_first_bad(indices, n, columns);                      \
        return overflow;                                                       \
    }

SCALE_ENTRIES(scale_entries_f64_i32, double, int32_t, DBL_MAX)
SCALE_ENTRIES(scale_entries_f64_i64, double, int64_t, DBL_MAX)
SCALE_ENTRIES(scale_entries_f32_i32, float, int32_t, FLT_MAX)
SCALE_ENTRIES(scale_entries_f32_i64, float, int64_t, FLT_MAX)

/*
 * Moments of the columns of a sparse matrix, in one pass over its stored
 * entries. Each column has a record of SPARSE_FIELDS doubles:
 *     [0] shift: the first stored value seen (NaN before), or the mean
 *     [1] the weighted sum of (x - shift) over the stored non-NaN entries
 *     [2] the weighted sum of (x - shift)^2 over them
 *     [3] their weight
 *     [4] the weight of the stored NaN entries
 *     [5] the number of stored entries, NaN included (CSR: with weights)
 * The caller adds the implicit zeros and merges records exactly. The
 * structure is checked as it is read: an index out of range or an indptr
 * that decreases or leaves [0, nnz] is an error, and a row index that is not
 * above the one before it in its column (CSC) makes the kernel stop and say
 * so: such a matrix may hold duplicate entries, which stand for their sum,
 * so the caller sums them.
 * An infinity propagates into the sums, for the caller to find.
 */
#define SPARSE_FIELDS 8

/* Branches taken only on unusual data (NaN, a malformed structure). */
#if defined(__GNUC__)
#define UNLIKELY(condition) __builtin_expect(!!(condition), 0)
#else
#define UNLIKELY(condition) (condition)
#endif

enum sparse_status {
    SPARSE_OK = 0,
    SPARSE_NOT_CANONICAL = 1,
    SPARSE_BAD_INDEX = 2,
    SPARSE_BAD_INDPTR = 3,
};

/* One stored entry x of a CSR row of weight w, into its column's record r.
   Without weights (w is 1, folded away) the number of stored entries is the
   sum of the two weights, and is not kept. */
static inline void
csr_entry(double *RESTRICT r, double x, double w, const int weighted)
{
    if (weighted)
        r[5] += 1.0;
    if (x != x) {
        r[4] += w;
        return;
    }
    if (weighted && w == 0.0) {
        /* No sample, and no shift: one far from the data would cost the sums
           every digit. An infinity still counts. */
        if (x - x != 0.0)
            r[1] = NAN;
        return;
    }
    if (r[0] != r[0])
        r[0] = x;
    const double d = x - r[0];
    r[1] += w * d;
    r[2] += w * d * d;
    r[3] += w;
}

/* The unweighted loop over CSR entries scatters into records of 4 doubles,
   the fields [0, 4) of the full ones: 2000 columns of them fit in 64 KiB
   rather than 128, which makes the pass an eighth faster. It is used when a
   chunk has at least as many entries as there are columns, so that copying
   the records in and out costs little. */
#define CSR_FAST_FIELDS 4

/* Rows [first, last) of a CSR matrix, scattered into the column records.
   Duplicates are the caller's to rule out (scipy's has_canonical_format):
   finding them here would cost a third of the time. Without weights the
   rows do not matter: once indptr is checked, one loop runs over all their
   entries, with no branch mispredicted at the end of each row (a sixth of
   the time at 20 entries a row).
   That loop first runs in compact records, testing only x - shift for NaN
   (which a column's first value, with its shift still NaN, also gives, as
   does an infinity less an infinity): at the first NaN entry it hands over
   to the loop of csr_entry, whose arithmetic on the other entries is the
   same, so the records have the same bits either way. */
#define CSR_MOMENTS(NAME, TYPE, INDEX)                                         \
    static int NAME##_weighted(                                                \
        const TYPE *data, const INDEX *indices, const INDEX *indptr,           \
        Py_ssize_t nnz, Py_ssize_t first, Py_ssize_t last,                     \
        Py_ssize_t n_columns, const double *weights, double *RESTRICT records) \
    {                                                                          \
        const uint64_t columns = (uint64_t)n_columns;                          \
        for (Py_ssize_t i = first; i < last; i++) {                            \
            const Py_ssize_t start = indptr[i], end = indptr[i + 1];          \
            if (start < 0 || end < start || end > nnz)                         \
                return SPARSE_BAD_INDPTR;                                      \
            for (Py_ssize_t k = start; k < end; k++) {                         \
                const INDEX j = indices[k];                                    \
                if ((uint64_t)j >= columns)                                    \
                    return SPARSE_BAD_INDEX;                                   \
                csr_entry(records + (Py_ssize_t)j * SPARSE_FIELDS,             \
                          (double)data[k], weights[i], 1);                     \
            }                                                                  \
        }                                                                      \
        return SPARSE_OK;                                                      \
    }                                                                          \
    /* Entries [k, end) into the compact records, up to the first NaN (for   \
       the loop of csr_entry to count); returns where it stopped. */          \
    static Py_ssize_t NAME##_fast(const TYPE *data, const INDEX *indices,      \
                                  Py_ssize_t k, Py_ssize_t end,                \
                                  uint64_t columns, double *RESTRICT compact,  \
                                  int *status)                                 \
    {                                                                          \
        for (; k < end; k++) {                                                 \
            const INDEX j = indices[k];                                        \
            if (UNLIKELY((uint64_t)j >= columns)) {                            \
                *status = SPARSE_BAD_INDEX;                                    \
                break;                                                         \
            }                                                                  \
            double *r = compact + (Py_ssize_t)j * CSR_FAST_FIELDS;             \
            const double x = (double)data[k];                                  \
            double d = x - r[0];                                               \
            if (UNLIKELY(d != d)) {                                            \
                if (x != x)                                                    \
                    break;                                                     \
                if (r[0] != r[0]) { /* the column's first value */             \
                    r[0] = x;                                                  \
                    d = x - x;                                                 \
                }                                                              \
            }                                                                  \
            r[1] += d;                                                         \
            r[2] += d * d;                                                     \
            r[3] += 1.0;                                                       \
        }                                                                      \
        return k;                                                              \
    }                                                                          \
    static int NAME(const TYPE *data, const INDEX *indices,                    \
                    const INDEX *indptr, Py_ssize_t nnz, Py_ssize_t first,     \
                    Py_ssize_t last, Py_ssize_t n_columns,                     \
                    const double *weights, double *RESTRICT records)           \
    {                                                                          \
        if (weights)                                                           \
            return NAME##_weighted(data, indices, indptr, nnz, first, last,    \
                                   n_columns, weights, records);               \
        int decreasing = 0;                                                    \
        for (Py_ssize_t i = first; i < last; i++)                              \
            decreasing |= indptr[i + 1] < indptr[i];                           \
        if (decreasing || indptr[first] < 0 || indptr[last] > nnz)             \
            return SPARSE_BAD_INDPTR;                                          \
        const uint64_t columns = (uint64_t)n_columns;                          \
        const Py_ssize_t end = indptr[last];                                   \
        Py_ssize_t k = indptr[first];                                          \
        double *compact = NULL;                                                \
        if (end - k >= n_columns)                                              \
            compact = malloc((size_t)n_columns * CSR_FAST_FIELDS *             \
                             sizeof(double));                                  \
        if (compact) {                                                         \
            const size_t size = CSR_FAST_FIELDS * sizeof(double);              \
            int status = SPARSE_OK;                                            \
            for (Py_ssize_t j = 0; j < n_columns; j++)                         \
                memcpy(compact + j * CSR_FAST_FIELDS,                          \
                       records + j * SPARSE_FIELDS, size);                     \
            k = NAME##_fast(data, indices, k, end, columns, compact, &status); \
            for (Py_ssize_t j = 0; j < n_columns; j++)                         \
                memcpy(records + j * SPARSE_FIELDS,                            \
                       compact + j * CSR_FAST_FIELDS, size);                   \
            free(compact);                                                     \
            if (status != SPARSE_OK)                                           \
                return status;                                                 \
        }                                                                      \
        for (; k < end; k++) {                                                 \
            const INDEX j = indices[k];                                        \
            if ((uint64_t)j >= columns)                                        \
                return SPARSE_BAD_INDEX;                                       \
            csr_entry(records + (Py_ssize_t)j * SPARSE_FIELDS,                 \
                      (double)data[k], 1.0, 0);                                \
        }                                                                      \
        return SPARSE_OK;                                                      \
    }

CSR_MOMENTS(csr_moments_f64_i32, double, int32_t)
CSR_MOMENTS(csr_moments_f64_i64, double, int64_t)
CSR_MOMENTS(csr_moments_f32_i32, float, int32_t)
CSR_MOMENTS(csr_moments_f32_i64, float, int64_t)

/* Entries of a column summed from one shift before it moves to the mean of
   those summed so far, as the dense runs are re-anchored. */
#define SPARSE_RUN 4096

/* Merge the shifted sums of a run into a column's count, mean and centered
   sum of squares (Chan, Golub and LeVeque), and reset the run. A run whose
   sums are NaN (an infinity) makes the mean NaN, for the caller to find.
   The first run has no spread between means: delta * delta would overflow
   for a mean beyond 1e154, and times a count of 0 make m2 NaN. */
static inline void
merge_run(double *count, double *mean, double *m2, double shift, double *sum,
          double *squares, double *weight)
{
    if (*weight > 0 || *sum != 0.0 || *squares != 0.0) {
        const double run_mean = shift + *sum / *weight;
        const double total = *count + *weight;
        const double delta = run_mean - *mean;
        const double share = *weight / total;
        *m2 += *squares - *sum * (*sum / *weight);
        if (*count > 0)
            *m2 += delta * delta * *count * share;
        *mean += delta * share;
        *count = total;
    }
    *sum = *squares = *weight = 0.0;
}

/* A CSC column's finished record (see SPARSE_FIELDS): its shift is the
   mean, NaN without a value, and its sums are 0. */
static inline void
csc_record(double *RESTRICT r, double count, double mean, double m2,
           double nan_weight, Py_ssize_t n_stored)
{
    r[0] = count > 0 ? mean : NAN;
    r[1] = 0.0;
    r[2] = m2;
    r[3] = count;
    r[4] = nan_weight;
    r[5] = (double)n_stored;
}

/* Columns [first, last) of a CSC matrix, each into its record, finished:
   the shift is the mean of the column's stored non-NaN entries, the sums 0
   and the squares their centered sum.
   Without weights a column is first summed in two lanes, checking only
   that its row indices increase: one chain of additions waits on the one
   before (4 cycles), and with two the loop runs at the speed its entries are
   read, twice as fast. A column with a NaN or an infinity (whose sums are
   then not finite), or a row index out of order or range, is summed again
   by the loop that tests each entry, which says what is wrong with it. */
#define CSC_MOMENTS(NAME, TYPE, INDEX)                                         \
    static int NAME##_column(const TYPE *data, const INDEX *indices,           \
                             Py_ssize_t start, Py_ssize_t end,                 \
                             uint64_t rows, const double *weights,             \
                             double *RESTRICT r)                               \
    {                                                                          \
        double count = 0.0, mean = 0.0, m2 = 0.0, nan_weight = 0.0;            \
        double shift = NAN, sum = 0.0, squares = 0.0, weight = 0.0;            \
        int64_t previous = -1;                                                 \
        int run = 0;                                                           \
        for (Py_ssize_t k = start; k < end; k++) {                             \
            const INDEX i = indices[k];                                        \
            if ((uint64_t)i >= rows)                                           \
                return SPARSE_BAD_INDEX;                                       \
            if ((int64_t)i <= previous)                                        \
                return SPARSE_NOT_CANONICAL;                                   \
            previous = (int64_t)i;                                             \
            const double w = weights ? weights[i] : 1.0;                       \
            const double x = (double)data[k];                                  \
            if (x != x) {                                                      \
                nan_weight += w;                                               \
                continue;                                                      \
            }                                                                  \
            if (w == 0.0) { /* as in CSR_MOMENTS */                            \
                if (x - x != 0.0)                                              \
                    sum = NAN;                                                 \
                continue;                                                      \
            }                                                                  \
            if (shift != shift)                                                \
                shift = x;                                                     \
            const double d = x - shift;                                        \
            sum += w * d;                                                      \
            squares += w * d * d;                                              \
            weight += w;                                                       \
            if (++run == SPARSE_RUN) {                                         \
                merge_run(&count, &mean, &m2, shift, &sum, &squares, &weight); \
                if (count > 0)                                                 \
                    shift = mean;                                              \
                run = 0;                                                       \
            }                                                                  \
        }                                                                      \
        merge_run(&count, &mean, &m2, shift, &sum, &squares, &weight);         \
        csc_record(r, count, mean, m2, nan_weight, end - start);               \
        return SPARSE_OK;                                                      \
    }                                                                          \
    /* An unweighted column of at least one entry, in two lanes; 0 if its     \
       record is written, 1 if NAME##_column must take it. */                 \
    static int NAME##_fast_column(const TYPE *data, const INDEX *indices,      \
                                  Py_ssize_t start, Py_ssize_t end,            \
                                  uint64_t rows, double *RESTRICT r)           \
    {                                                                          \
        double count = 0.0, mean = 0.0, m2 = 0.0;                              \
        double shift = (double)data[start];                                    \
        int64_t previous = -1;                                                 \
        Py_ssize_t k = start;                                                  \
        while (k < end) {                                                      \
            const Py_ssize_t stop =                                            \
                end - k > SPARSE_RUN ? k + SPARSE_RUN : end;                   \
            double weight = (double)(stop - k);                                \
            double sum0 = 0.0, sum1 = 0.0, squares0 = 0.0, squares1 = 0.0;     \
            for (; k + 2 <= stop; k += 2) {                                    \
                const int64_t i0 = indices[k], i1 = indices[k + 1];            \
                if (UNLIKELY(i0 <= previous || i1 <= i0))                      \
                    return 1;                                                  \
                previous = i1;                                                 \
                const double d0 = (double)data[k] - shift;                     \
                const double d1 = (double)data[k + 1] - shift;                 \
                sum0 += d0;                                                    \
                squares0 += d0 * d0;                                           \
                sum1 += d1;                                                    \
                squares1 += d1 * d1;                                           \
            }                                                                  \
            if (k < stop) {                                                    \
                const int64_t i0 = indices[k];                                 \
                if (i0 <= previous)                                            \
                    return 1;                                                  \
                previous = i0;                                                 \
                const double d0 = (double)data[k++] - shift;                   \
                sum0 += d0;                                                    \
                squares0 += d0 * d0;                                           \
            }                                                                  \
            double sum = sum0 + sum1, squares = squares0 + squares1;           \
            merge_run(&count, &mean, &m2, shift, &sum, &squares, &weight);     \
            shift = mean;                                                      \
        }                                                                      \
        /* The indices increase from 0 on: the last one bounds them all. */    \
        if ((uint64_t)previous >= rows || mean - mean != 0.0 ||                \
            m2 - m2 != 0.0)                                                    \
            return 1;                                                          \
        csc_record(r, count, mean, m2, 0.0, end - start);                      \
        return 0;                                                              \
    }                                                                          \
    static int NAME(const TYPE *data, const INDEX *indices,                    \
                    const INDEX *indptr, Py_ssize_t nnz, Py_ssize_t first,     \
                    Py_ssize_t last, Py_ssize_t n_rows,                        \
                    const double *weights, double *RESTRICT records)           \
    {                                                                          \
        const uint64_t rows = (uint64_t)n_rows;                                \
        /* After a column with NaN the next is read entry by entry: with NaN  \
           in every column, each is then read once, not twice. */             \
        int fast = !weights;                                                   \
        for (Py_ssize_t j = first; j < last; j++) {                            \
            const Py_ssize_t start = indptr[j], end = indptr[j + 1];          \
            if (start < 0 || end < start || end > nnz)                         \
                return SPARSE_BAD_INDPTR;                                      \
            double *r = records + j * SPARSE_FIELDS;                           \
            if (fast && end > start &&                                         \
                NAME##_fast_column(data, indices, start, end, rows, r) == 0)   \
                continue;                                                      \
            const int status =                                                 \
                NAME##_column(data, indices, start, end, rows, weights, r);    \
            if (status != SPARSE_OK)                                           \
                return status;                                                 \
            fast = !weights && r[4] == 0.0;                                    \
        }                                                                      \
        return SPARSE_OK;                                                      \
    }

CSC_MOMENTS(csc_moments_f64_i32, double, int32_t)
CSC_MOMENTS(csc_moments_f64_i64, double, int64_t)
CSC_MOMENTS(csc_moments_f32_i32, float, int32_t)
CSC_MOMENTS(csc_moments_f32_i64, float, int64_t)

/*
 * The stored entries of columns [first, last) of a CSC matrix, each
 * multiplied by the factor of its column, in double and rounded once:
 * out_k = data_k * factor_j. Returns a sparse_status for the structure (a
 * row index outside [0, n_rows) or a bad indptr), and sets *overflow if an
 * entry is infinite or a result overflows the type. out is never data: a
 * malformed column found late would leave it half written.
 */
#define SCALE_COLUMNS(NAME, TYPE, INDEX, MAX)                                  \
    MULTIVERSION static int NAME(                                              \
        const TYPE *RESTRICT data, const INDEX *RESTRICT indices,             \
        const INDEX *RESTRICT indptr, Py_ssize_t nnz, Py_ssize_t first,       \
        Py_ssize_t last, Py_ssize_t n_rows, const double *RESTRICT factor,    \
        TYPE *RESTRICT out, int *overflow)                                     \
    {                                                                          \
        const uint64_t rows = (uint64_t)n_rows;                                \
        int over = 0;                                                          \
        for (Py_ssize_t j = first; j < last; j++) {                            \
            const Py_ssize_t start = indptr[j], end = indptr[j + 1];          \
            if (start < 0 || end < start || end > nnz)                         \
                return SPARSE_BAD_INDPTR;                                      \
            const double f = factor[j];                                        \
            int bad = 0;                                                       \
            for (Py_ssize_t k = start; k < end; k++) {                         \
                const double x = (double)data[k];                              \
                const double y = x * f;                                        \
                bad |= (uint64_t)indices[k] >= rows;                           \
                over |= (x > MAX) | (x < -MAX) | (y > MAX) | (y < -MAX);       \
                out[k] = (TYPE)y;                                              \
            }                                                                  \
            if (bad)                                                           \
                return SPARSE_BAD_INDEX;                                       \
        }                                                                      \
        *overflow = over;                                                      \
        return SPARSE_OK;                                                      \
    }

SCALE_COLUMNS(scale_columns_f64_i32, double, int32_t, DBL_MAX)
SCALE_COLUMNS(scale_columns_f64_i64, double, int64_t, DBL_MAX)
SCALE_COLUMNS(scale_columns_f32_i32, float, int32_t, FLT_MAX)
SCALE_COLUMNS(scale_columns_f32_i64, float, int64_t, FLT_MAX)

/*
 * The one boundary between Python and the kernels. Every array a kernel
 * reads or writes is acquired here, from a description of what the kernel
 * needs, and nothing runs unless all of them match: a C-contiguous buffer
 * of the right kind of item in native byte order, of the expected number of
 * dimensions and length, writable where the kernel writes, and not empty
 * where the kernel divides by or loops over its rows or columns (a matrix
 * of no rows or no columns is refused here, never run). The shapes come
 * from the buffers themselves, never from the caller.
 */
enum kind {
    REAL,    /* float32 or float64 */
    FLOAT64, /* float64 only */
    INDEX,   /* int32 or int64 */
};

typedef struct {
    const char *name;
    enum kind kind;
    int ndim;     /* 1 or 2 */
    int writable; /* the kernel writes into it */
    int optional; /* None is accepted, and gives an empty view */
    int nonempty; /* every dimension at least 1: the rows and columns of X,
                     a factor per column */
} spec;

/* The item type of a native-order buffer: 'f', 'd', 'i' (int32), 'q'
   (int64) or 0 for anything else. */
static char
item_type(const Py_buffer *view)
{
    const char *format = view->format ? view->format : "B";
    if (format[0] == '@' || format[0] == '=')
        format++;
    if (format[0] == '\0' || format[1] != '\0')
        return 0;
    switch (format[0]) {
    case 'f':
        return view->itemsize == 4 ? 'f' : 0;
    case 'd':
        return view->itemsize == 8 ? 'd' : 0;
    case 'i':
    case 'l':
    case 'q':
        return view->itemsize == 4 ? 'i' : view->itemsize == 8 ? 'q' : 0;
    default:
        return 0;
    }
}

static int
acquire(PyObject *obj, Py_buffer *view, const spec *s)
{
    static const char *allowed[] = {"float32 or float64", "float64",
                                    "int32 or int64"};
    view->obj = NULL;
    if (s->optional && obj == Py_None)
        return 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (s->writable)
        flags |= PyBUF_WRITABLE;
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        view->obj = NULL;
        PyErr_Format(PyExc_ValueError,
                     "%s must be a C-contiguous%s %s array", s->name,
                     s->writable ? ", writable" : "", allowed[s->kind]);
        return -1;
    }
    const char type = item_type(view);
    const int kind_ok = s->kind == REAL      ? type == 'f' || type == 'd'
                        : s->kind == FLOAT64 ? type == 'd'
                                             : type == 'i' || type == 'q';
    if (!kind_ok || view->ndim != s->ndim) {
        PyErr_Format(PyExc_ValueError, "%s must be a %d-D %s array", s->name,
                     s->ndim, allowed[s->kind]);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    if (s->nonempty &&
        (view->shape[0] < 1 || (view->ndim == 2 && view->shape[1] < 1))) {
        if (view->ndim == 2)
            PyErr_Format(PyExc_ValueError,
                         "%s must have at least one row and one column, not "
                         "shape (%zd, %zd)",
                         s->name, view->shape[0], view->shape[1]);
        else
            PyErr_Format(PyExc_ValueError, "%s must have at least one item",
                         s->name);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static void
release_all(Py_buffer *views, int n)
{
    for (int k = 0; k < n; k++) {
        if (views[k].obj)
            PyBuffer_Release(&views[k]);
    }
}

/* Acquire n arrays; on failure, release those already held. */
static int
acquire_all(PyObject **objs, Py_buffer *views, const spec *specs, int n)
{
    for (int k = 0; k < n; k++) {
        if (acquire(objs[k], &views[k], &specs[k]) < 0) {
            release_all(views, k);
            return -1;
        }
    }
    return 0;
}

static Py_ssize_t
length(const Py_buffer *view)
{
    return view->obj ? view->shape[0] : -1;
}

static int
check_length(const Py_buffer *view, const char *name, Py_ssize_t expected)
{
    if (view->obj && view->shape[0] != expected) {
        PyErr_Format(PyExc_ValueError, "%s must have %zd items, not %zd", name,
                     expected, view->shape[0]);
        return -1;
    }
    return 0;
}

static int
is_float64(const Py_buffer *view)
{
    return item_type(view) == 'd';
}

static PyObject *
py_shifted_sums(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"X", REAL, 2, 0, 0, 1},           {"shift", FLOAT64, 1, 0, 0, 0},
        {"weights", FLOAT64, 1, 0, 1, 0},  {"dev_sum", FLOAT64, 1, 1, 0, 0},
        {"dev_sq", FLOAT64, 1, 1, 0, 0},   {"count", FLOAT64, 1, 1, 1, 0},
    };
    PyObject *objs[6] = {NULL, NULL, Py_None, NULL, NULL, Py_None};
    Py_buffer v[6];
    if (!PyArg_ParseTuple(args, "OOOOO|O", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5]) ||
        acquire_all(objs, v, specs, 6) < 0)
        return NULL;
    const Py_ssize_t n_rows = v[0].shape[0], n_features = v[0].shape[1];
    if (check_length(&v[1], "shift", n_features) < 0 ||
        check_length(&v[2], "weights", n_rows) < 0 ||
        check_length(&v[3], "dev_sum", n_features) < 0 ||
        check_length(&v[4], "dev_sq", n_features) < 0 ||
        check_length(&v[5], "count", n_features) < 0) {
        release_all(v, 6);
        return NULL;
    }
    const double *s = v[1].buf, *w = v[2].obj ? v[2].buf : NULL;
    double *totals[3] = {v[3].buf, v[4].buf, v[5].buf};
    const int n_sums = v[5].obj ? 3 : 2, f64 = is_float64(&v[0]);
    double *scratch = PyMem_Malloc(3 * (size_t)(n_features ? n_features : 1) *
                                      sizeof(double));
    if (!scratch) {
        release_all(v, 6);
        return PyErr_NoMemory();
    }
    double *block_sums[3] = {scratch, scratch + n_features,
                             scratch + 2 * n_features};
    /* Blocked summation: each block of rows is summed from zero, then added
       to the totals, so that the rounding error grows with the rows of a
       block and the number of blocks, not with all the rows. */
    const Py_ssize_t step =
        n_features < SUM_BLOCK_VALUES ? SUM_BLOCK_VALUES / n_features : 1;
    const Py_ssize_t item = f64 ? sizeof(double) : sizeof(float);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t start = 0; start < n_rows; start += step) {
        const Py_ssize_t rows = n_rows - start < step ? n_rows - start : step;
        const void *X = (const char *)v[0].buf + start * n_features * item;
        const double *weights = w ? w + start : NULL;
        memset(scratch, 0, 3 * (size_t)n_features * sizeof(double));
        if (f64 && n_sums == 3)
            shifted_sums_nan_f64(X, rows, n_features, s, weights, block_sums[0],
                                 block_sums[1], block_sums[2]);
        else if (f64)
            shifted_sums_f64(X, rows, n_features, s, weights, block_sums[0],
                             block_sums[1]);
        else if (n_sums == 3)
            shifted_sums_nan_f32(X, rows, n_features, s, weights, block_sums[0],
                                 block_sums[1], block_sums[2]);
        else
            shifted_sums_f32(X, rows, n_features, s, weights, block_sums[0],
                             block_sums[1]);
        for (int k = 0; k < n_sums; k++)
            for (Py_ssize_t j = 0; j < n_features; j++)
                totals[k][j] += block_sums[k][j];
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(scratch);
    release_all(v, 6);
    Py_RETURN_NONE;
}

static PyObject *
py_affine_map(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"X", REAL, 2, 0, 0, 1},          {"out", REAL, 2, 1, 0, 1},
        {"factor", FLOAT64, 1, 0, 0, 0},  {"offset", FLOAT64, 1, 0, 0, 0},
        {"center", FLOAT64, 1, 0, 1, 0},
    };
    PyObject *objs[5];
    Py_buffer v[5];
    int write, overflow = 0;
    if (!PyArg_ParseTuple(args, "OOOOOp", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &write) ||
        acquire_all(objs, v, specs, 5) < 0)
        return NULL;
    const Py_ssize_t n_rows = v[0].shape[0], n_features = v[0].shape[1];
    if (item_type(&v[0]) != item_type(&v[1]) || v[1].shape[0] != n_rows ||
        v[1].shape[1] != n_features) {
        PyErr_SetString(PyExc_ValueError,
                        "out must have the dtype and shape of X");
        release_all(v, 5);
        return NULL;
    }
    if (check_length(&v[2], "factor", n_features) < 0 ||
        check_length(&v[3], "offset", n_features) < 0 ||
        check_length(&v[4], "center", n_features) < 0) {
        release_all(v, 5);
        return NULL;
    }
    const double *factor = v[2].buf, *offset = v[3].buf;
    const double *center = v[4].obj ? v[4].buf : NULL;
    const int f64 = is_float64(&v[0]);
    Py_BEGIN_ALLOW_THREADS
    if (f64)
        overflow = affine_map_f64(v[0].buf, v[1].buf, n_rows, n_features,
                                  factor, offset, center, write);
    else
        overflow = affine_map_f32(v[0].buf, v[1].buf, n_rows, n_features,
                                  factor, offset, center, write);
    Py_END_ALLOW_THREADS
    release_all(v, 5);
    return PyBool_FromLong(overflow);
}

static PyObject *
py_scale_entries(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"data", REAL, 1, 0, 0, 0},       {"indices", INDEX, 1, 0, 0, 0},
        {"factor", FLOAT64, 1, 0, 0, 1},  {"out", REAL, 1, 1, 0, 0},
        {"out_indices", INDEX, 1, 1, 1, 0},
    };
    PyObject *objs[5] = {NULL, NULL, NULL, NULL, Py_None};
    Py_buffer v[5];
    int overflow = 0;
    Py_ssize_t bad = -1;
    if (!PyArg_ParseTuple(args, "OOOO|O", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4]) ||
        acquire_all(objs, v, specs, 5) < 0)
        return NULL;
    const Py_ssize_t n = length(&v[0]), n_columns = length(&v[2]);
    if (check_length(&v[1], "indices", n) < 0 ||
        check_length(&v[3], "out", n) < 0 ||
        check_length(&v[4], "out_indices", n) < 0) {
        release_all(v, 5);
        return NULL;
    }
    if (item_type(&v[0]) != item_type(&v[3]) ||
        (v[4].obj && item_type(&v[4]) != item_type(&v[1]))) {
        PyErr_SetString(PyExc_ValueError,
                        "out and out_indices must have the dtypes of data and "
                        "indices");
        release_all(v, 5);
        return NULL;
    }
    const int f64 = is_float64(&v[0]), i32 = item_type(&v[1]) == 'i';
    const double *factor = v[2].buf;
    Py_BEGIN_ALLOW_THREADS
    if (f64 && i32)
        overflow = scale_entries_f64_i32(v[0].buf, v[1].buf, n, factor,
                                         n_columns, v[3].buf, &bad);
    else if (f64)
        overflow = scale_entries_f64_i64(v[0].buf, v[1].buf, n, factor,
                                         n_columns, v[3].buf, &bad);
    else if (i32)
        overflow = scale_entries_f32_i32(v[0].buf, v[1].buf, n, factor,
                                         n_columns, v[3].buf, &bad);
    else
        overflow = scale_entries_f32_i64(v[0].buf, v[1].buf, n, factor,
                                         n_columns, v[3].buf, &bad);
    /* The copy of the indices for a new matrix, on this thread too. */
    if (v[4].obj && bad < 0)
        memmove(v[4].buf, v[1].buf, (size_t)v[1].len);
    Py_END_ALLOW_THREADS
    release_all(v, 5);
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError,
                     "stored entry %zd has a column index outside [0, %zd): "
                     "the sparse matrix is malformed",
                     bad, n_columns);
        return NULL;
    }
    return PyBool_FromLong(overflow);
}

/*
 * The checks the sparse kernels share: a matrix of at least one row and one
 * column (n_minor and the major axis that indptr covers), data and indices
 * of one length, indptr of the same index type, and [first, last) a range
 * of the major axis. Releases the views and raises on failure.
 */
static int
check_sparse_args(Py_buffer *v, int n_views, Py_ssize_t first, Py_ssize_t last,
                  Py_ssize_t n_minor)
{
    const char *problem = NULL;
    if (n_minor < 1 || length(&v[2]) < 2)
        problem = "the matrix must have at least one row and one column "
                  "(n_minor at least 1, indptr of at least 2 items)";
    else if (length(&v[1]) != length(&v[0]))
        problem = "indices must have as many items as data";
    else if (item_type(&v[1]) != item_type(&v[2]))
        problem = "indices and indptr must have the same dtype";
    else if (first < 0 || last < first || last + 1 > length(&v[2]))
        problem = "[first, last) must be a range of indptr's rows";
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        release_all(v, n_views);
        return -1;
    }
    return 0;
}

static PyObject *
py_sparse_moments(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"data", REAL, 1, 0, 0, 0},         {"indices", INDEX, 1, 0, 0, 0},
        {"indptr", INDEX, 1, 0, 0, 0},      {"weights", FLOAT64, 1, 0, 1, 0},
        {"records", FLOAT64, 2, 1, 0, 1},
    };
    PyObject *objs[5];
    Py_buffer v[5];
    Py_ssize_t first, last, n_minor;
    int csc, status;
    if (!PyArg_ParseTuple(args, "OOOnnnOOp", &objs[0], &objs[1], &objs[2],
                          &first, &last, &n_minor, &objs[3], &objs[4], &csc) ||
        acquire_all(objs, v, specs, 5) < 0)
        return NULL;
    if (check_sparse_args(v, 5, first, last, n_minor) < 0)
        return NULL;
    /* The records are those of the columns: the minor axis of a CSR matrix,
       the major axis of a CSC one. The weights are those of the rows. */
    const Py_ssize_t n_columns = csc ? length(&v[2]) - 1 : n_minor;
    const Py_ssize_t n_rows = csc ? n_minor : length(&v[2]) - 1;
    if (n_minor < 0 || v[4].shape[0] != n_columns ||
        v[4].shape[1] != SPARSE_FIELDS) {
        PyErr_Format(PyExc_ValueError,
                     "records must have shape (%zd, %d)", n_columns,
                     SPARSE_FIELDS);
        release_all(v, 5);
        return NULL;
    }
    if (check_length(&v[3], "weights", n_rows) < 0) {
        release_all(v, 5);
        return NULL;
    }
    const Py_ssize_t nnz = length(&v[0]);
    const int f64 = is_float64(&v[0]), i32 = item_type(&v[1]) == 'i';
    const double *w = v[3].obj ? v[3].buf : NULL;
    double *records = v[4].buf;
#define SPARSE_MOMENTS_CALL(FORMAT, TYPE, INDEX)                               \
    FORMAT##_moments_##TYPE##_##INDEX(v[0].buf, v[1].buf, v[2].buf, nnz,       \
                                      first, last, n_minor, w, records)
    Py_BEGIN_ALLOW_THREADS
    if (csc)
        status = f64   ? (i32 ? SPARSE_MOMENTS_CALL(csc, f64, i32)
                              : SPARSE_MOMENTS_CALL(csc, f64, i64))
                 : i32 ? SPARSE_MOMENTS_CALL(csc, f32, i32)
                       : SPARSE_MOMENTS_CALL(csc, f32, i64);
    else
        status = f64   ? (i32 ? SPARSE_MOMENTS_CALL(csr, f64, i32)
                              : SPARSE_MOMENTS_CALL(csr, f64, i64))
                 : i32 ? SPARSE_MOMENTS_CALL(csr, f32, i32)
                       : SPARSE_MOMENTS_CALL(csr, f32, i64);
    Py_END_ALLOW_THREADS
#undef SPARSE_MOMENTS_CALL
    release_all(v, 5);
    return PyLong_FromLong(status);
}

static PyObject *
py_scale_columns(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"data", REAL, 1, 0, 0, 0},       {"indices", INDEX, 1, 0, 0, 0},
        {"indptr", INDEX, 1, 0, 0, 0},    {"factor", FLOAT64, 1, 0, 0, 1},
        {"out", REAL, 1, 1, 0, 0},        {"out_indices", INDEX, 1, 1, 1, 0},
    };
    PyObject *objs[6] = {NULL, NULL, NULL, NULL, NULL, Py_None};
    Py_buffer v[6];
    Py_ssize_t first, last, n_rows;
    int status, overflow = 0;
    if (!PyArg_ParseTuple(args, "OOOnnnOO|O", &objs[0], &objs[1], &objs[2],
                          &first, &last, &n_rows, &objs[3], &objs[4],
                          &objs[5]) ||
        acquire_all(objs, v, specs, 6) < 0)
        return NULL;
    if (check_sparse_args(v, 6, first, last, n_rows) < 0)
        return NULL;
    if (check_length(&v[3], "factor", length(&v[2]) - 1) < 0 ||
        check_length(&v[4], "out", length(&v[0])) < 0 ||
        check_length(&v[5], "out_indices", length(&v[0])) < 0) {
        release_all(v, 6);
        return NULL;
    }
    if (item_type(&v[0]) != item_type(&v[4]) || v[0].buf == v[4].buf ||
        (v[5].obj && item_type(&v[5]) != item_type(&v[1]))) {
        PyErr_SetString(PyExc_ValueError,
                        "out must be a new array of the dtype of data, "
                        "out_indices one of the dtype of indices");
        release_all(v, 6);
        return NULL;
    }
    const Py_ssize_t nnz = length(&v[0]);
    const int f64 = is_float64(&v[0]), i32 = item_type(&v[1]) == 'i';
#define SCALE_COLUMNS_CALL(TYPE, INDEX)                                        \
    scale_columns_##TYPE##_##INDEX(v[0].buf, v[1].buf, v[2].buf, nnz, first,   \
                                   last, n_rows, v[3].buf, v[4].buf,          \
                                   &overflow)
    Py_BEGIN_ALLOW_THREADS
    status = f64   ? (i32 ? SCALE_COLUMNS_CALL(f64, i32)
                          : SCALE_COLUMNS_CALL(f64, i64))
             : i32 ? SCALE_COLUMNS_CALL(f32, i32)
                   : SCALE_COLUMNS_CALL(f32, i64);
    /* The copy of the row indices of these columns, on this thread too. */
    if (v[5].obj && status == SPARSE_OK) {
        const size_t size = (size_t)v[1].itemsize;
        const Py_ssize_t start = i32 ? ((int32_t *)v[2].buf)[first]
                                      : ((int64_t *)v[2].buf)[first];
        const Py_ssize_t end = i32 ? ((int32_t *)v[2].buf)[last]
                                    : ((int64_t *)v[2].buf)[last];
        if (end > start)
            memmove((char *)v[5].buf + start * size,
                    (char *)v[1].buf + start * size, (end - start) * size);
    }
    Py_END_ALLOW_THREADS
#undef SCALE_COLUMNS_CALL
    release_all(v, 6);
    return Py_BuildValue("ii", status, overflow);
}

static PyMethodDef methods[] = {
    {"shifted_sums", py_shifted_sums, METH_VARARGS,
     "shifted_sums(X, shift, weights, dev_sum, dev_sq[, count]): add the "
     "weighted sums of X - shift and of its square, per column, into dev_sum "
     "and dev_sq (weights None for unit weights). With count, NaN is skipped "
     "and the weight of the values summed is added to count."},
    {"affine_map", py_affine_map, METH_VARARGS,
     "affine_map(X, out, factor, offset, center, write) -> bool: out = (X - "
     "center) * factor + offset (center None: X * factor + offset), in "
     "float64, rounded once; nothing written unless write. True if X holds "
     "an infinity or a result overflows out's dtype."},
    {"scale_entries", py_scale_entries, METH_VARARGS,
     "scale_entries(data, indices, factor, out[, out_indices]) -> bool: out "
     "= data * factor[indices], in float64, for the stored entries of a CSR "
     "matrix, and indices copied into out_indices. True if an entry is "
     "infinite or a result overflows."},
    {"sparse_moments", py_sparse_moments, METH_VARARGS,
     "sparse_moments(data, indices, indptr, first, last, n_minor, weights, "
     "records, csc) -> status: the shifted sums of the columns of a CSR "
     "(rows [first, last)) or CSC (columns [first, last)) matrix into records "
     "of shape (n_columns, 8), whose shift is NaN and other fields 0 to start. "
     "status: 0 done, 1 an index not above the previous one (maybe a "
     "duplicate), 2 an index out of range, 3 a bad indptr."},
    {"scale_columns", py_scale_columns, METH_VARARGS,
     "scale_columns(data, indices, indptr, first, last, n_rows, factor, out"
     "[, out_indices]) -> (status, overflow): out = data * factor[column] for "
     "the stored entries of columns [first, last) of a CSC matrix, in "
     "float64, rounded once, and their row indices copied into out_indices; "
     "status as for sparse_moments."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "One-pass kernels for BatchNormScaler's statistics and transform.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
