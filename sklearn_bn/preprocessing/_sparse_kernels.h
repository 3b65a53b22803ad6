/*
 * The sparse kernels of _kernels.c: the scaling of CSR and CSC entries, and
 * the moments of the columns of CSR and CSC matrices, checking their
 * structure as they read it. Included by _kernels.c, once; not a header of
 * its own.
 */

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
