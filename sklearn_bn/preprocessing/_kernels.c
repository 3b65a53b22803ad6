/*
 * The C kernels of BatchNormScaler: one pass over the data for each job that
 * numpy does in several. Five entry points (see `methods` at the end; a
 * sixth, variant, says which build of them runs):
 *     shifted_sums   the per-column shifted sums of dense rows, skipping NaN
 *                    or not (fit; numpy needs four passes, more with NaN)
 *     affine_map     (x - center) * factor + offset of dense rows (transform)
 *     scale_entries  the stored entries of a CSR matrix times their column's
 *                    factor, with no array of gathered factors
 *     sparse_moments the shifted sums of the columns of a CSR or CSC matrix,
 *                    checking its structure as it reads it
 *     scale_columns  the stored entries of a CSC matrix times their column's
 *                    factor
 * The kernels are in _dense_kernels.h and _sparse_kernels.h; this file holds
 * what they share and the one boundary between Python and them.
 *
 * They take buffers (any object with the buffer protocol, numpy arrays among
 * them), need no numpy headers, and release the GIL, so that the Python side
 * can run them on several row ranges in threads. Everything numerical that is
 * not a single pass (merging, precision fallbacks) stays in Python
 * (utils/_stats.py and the backends).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../utils/_kernel_boundary.h"

/* The kernels themselves, dense then sparse; the boundary follows. */
#include "_dense_kernels.h"
#include "_sparse_kernels.h"

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

/* The version of the kernels the loader picked: the resolver of
   target_clones takes the AVX2 clone wherever the processor has AVX2. */
static PyObject *
py_variant(PyObject *self, PyObject *unused)
{
#if MULTIVERSIONED
    __builtin_cpu_init();
    if (use_avx512)
        return PyUnicode_FromString("avx512");
    return PyUnicode_FromString(__builtin_cpu_supports("avx2") ? "avx2"
                                                              : "default");
#else
    return PyUnicode_FromString("portable");
#endif
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
    {"variant", py_variant, METH_NOARGS,
     "variant() -> str: the version of the kernels running: 'avx2' or "
     "'default' (the two clones built on x86-64 Linux, picked at load time "
     "by the processor), 'avx512' (the AVX2 clone, and AVX-512 for the sums "
     "of narrow rows), or 'portable' (the one version built elsewhere)."},
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
#if MULTIVERSIONED
    init_avx512();
#endif
    return PyModule_Create(&module);
}
