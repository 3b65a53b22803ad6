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
           (100 features: 2.5x), from cache conflicts between the rows. */     \
        for (Py_ssize_t i = 0; i < n_rows; i++) {                              \
            const TYPE *row = X + i * n_features;                              \
            const double w = weights ? weights[i] : 1.0;                       \
            for (Py_ssize_t j = 0; j < n_features; j++) {                      \
                const double d = (double)row[j] - shift[j];                    \
                dev_sum[j] += w * d;                                           \
                dev_sq[j] += w * d * d;                                        \
            }                                                                  \
        }                                                                      \
    }

SHIFTED_SUMS(shifted_sums_f64, double)
SHIFTED_SUMS(shifted_sums_f32, float)

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
            const double w = weights ? weights[i] : 1.0;                       \
            for (Py_ssize_t j = 0; j < n_features; j++) {                      \
                const double x = (double)row[j];                               \
                const double d = zero_if_nan(x - shift[j], x == x);            \
                dev_sum[j] += w * d;                                           \
                dev_sq[j] += w * d * d;                                        \
                count[j] += zero_if_nan(w, x == x);                            \
            }                                                                  \
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
 * overflows the type, else 0.
 */
#define SCALE_ENTRIES(NAME, TYPE, INDEX, MAX)                                  \
    static int NAME(const TYPE *data, const INDEX *indices, Py_ssize_t n,      \
                    const double *factor, Py_ssize_t n_columns, TYPE *out,     \
                    Py_ssize_t *bad)                                           \
    {                                                                          \
        /* As unsigned, a negative index is out of range too. */              \
        const uint64_t columns = (uint64_t)n_columns;                          \
        int overflow = 0;                                                      \
        *bad = -1;                                                             \
        for (Py_ssize_t k = 0; out == data && k < n; k++) {                    \
            if ((uint64_t)indices[k] >= columns) {                             \
                *bad = k;                                                      \
                return 0;                                                      \
            }                                                                  \
        }                                                                      \
        for (Py_ssize_t k = 0; k < n; k++) {                                   \
            const INDEX j = indices[k];                                        \
            if ((uint64_t)j >= columns) {                                      \
                *bad = k;                                                      \
                return 0;                                                      \
            }                                                                  \
            const double x = (double)data[k];                                  \
            const double y = x * factor[j];                                    \
            overflow |= (x > MAX) | (x < -MAX) | (y > MAX) | (y < -MAX);       \
            out[k] = (TYPE)y;                                                  \
        }                                                                      \
        return overflow;                                                       \
    }

SCALE_ENTRIES(scale_entries_f64_i32, double, int32_t, DBL_MAX)
SCALE_ENTRIES(scale_entries_f64_i64, double, int64_t, DBL_MAX)
SCALE_ENTRIES(scale_entries_f32_i32, float, int32_t, FLT_MAX)
SCALE_ENTRIES(scale_entries_f32_i64, float, int64_t, FLT_MAX)

/*
 * The one boundary between Python and the kernels. Every array a kernel
 * reads or writes is acquired here, from a description of what the kernel
 * needs, and nothing runs unless all of them match: a C-contiguous buffer
 * of the right kind of item in native byte order, of the expected number of
 * dimensions and length, writable where the kernel writes. The shapes come
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
        {"X", REAL, 2, 0, 0},           {"shift", FLOAT64, 1, 0, 0},
        {"weights", FLOAT64, 1, 0, 1},  {"dev_sum", FLOAT64, 1, 1, 0},
        {"dev_sq", FLOAT64, 1, 1, 0},   {"count", FLOAT64, 1, 1, 1},
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
    double *sums = v[3].buf, *squares = v[4].buf, *counts = v[5].buf;
    const int skip_nan = v[5].obj != NULL, f64 = is_float64(&v[0]);
    Py_BEGIN_ALLOW_THREADS
    if (f64 && skip_nan)
        shifted_sums_nan_f64(v[0].buf, n_rows, n_features, s, w, sums, squares,
                             counts);
    else if (f64)
        shifted_sums_f64(v[0].buf, n_rows, n_features, s, w, sums, squares);
    else if (skip_nan)
        shifted_sums_nan_f32(v[0].buf, n_rows, n_features, s, w, sums, squares,
                             counts);
    else
        shifted_sums_f32(v[0].buf, n_rows, n_features, s, w, sums, squares);
    Py_END_ALLOW_THREADS
    release_all(v, 6);
    Py_RETURN_NONE;
}

static PyObject *
py_affine_map(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"X", REAL, 2, 0, 0},          {"out", REAL, 2, 1, 0},
        {"factor", FLOAT64, 1, 0, 0},  {"offset", FLOAT64, 1, 0, 0},
        {"center", FLOAT64, 1, 0, 1},
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
        {"data", REAL, 1, 0, 0},
        {"indices", INDEX, 1, 0, 0},
        {"factor", FLOAT64, 1, 0, 0},
        {"out", REAL, 1, 1, 0},
    };
    PyObject *objs[4];
    Py_buffer v[4];
    int overflow = 0;
    Py_ssize_t bad = -1;
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &objs[3]) ||
        acquire_all(objs, v, specs, 4) < 0)
        return NULL;
    const Py_ssize_t n = length(&v[0]), n_columns = length(&v[2]);
    if (check_length(&v[1], "indices", n) < 0 ||
        check_length(&v[3], "out", n) < 0) {
        release_all(v, 4);
        return NULL;
    }
    if (item_type(&v[0]) != item_type(&v[3])) {
        PyErr_SetString(PyExc_ValueError, "out must have the dtype of data");
        release_all(v, 4);
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
    Py_END_ALLOW_THREADS
    release_all(v, 4);
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError,
                     "stored entry %zd has a column index outside [0, %zd): "
                     "the sparse matrix is malformed",
                     bad, n_columns);
        return NULL;
    }
    return PyBool_FromLong(overflow);
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
     "scale_entries(data, indices, factor, out) -> bool: out = data * "
     "factor[indices], in float64, for the stored entries of a CSR matrix. "
     "True if an entry is infinite or a result overflows."},
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
