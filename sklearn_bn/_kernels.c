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
    MULTIVERSION static void NAME(const TYPE *restrict X, Py_ssize_t n_rows,  \
                                  Py_ssize_t n_features,                       \
                                  const double *restrict shift,                \
                                  const double *restrict weights,              \
                                  double *restrict dev_sum,                    \
                                  double *restrict dev_sq)                     \
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
        const TYPE *restrict X, Py_ssize_t n_rows, Py_ssize_t n_features,      \
        const double *restrict shift, const double *restrict weights,         \
        double *restrict dev_sum, double *restrict dev_sq,                     \
        double *restrict count)                                                \
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
 * offset_j without a center. NaN stays NaN. Returns 1 if X holds an
 * infinity (an error for the caller to raise), else 0. The check is an
 * integer OR of comparisons, with no branch, so that the compiler vectorizes
 * it with the rest of the loop.
 */
#define AFFINE_MAP(NAME, TYPE, MAX)                                               \
    MULTIVERSION static int NAME(const TYPE *X, TYPE *out, Py_ssize_t n_rows,               \
                    Py_ssize_t n_features, const TYPE *factor,                 \
                    const TYPE *offset, const TYPE *center)                    \
    {                                                                          \
        int infinite = 0;                                                      \
        for (Py_ssize_t i = 0; i < n_rows; i++) {                              \
            const TYPE *row = X + i * n_features;                              \
            TYPE *dest = out + i * n_features;                                 \
            if (center) {                                                      \
                for (Py_ssize_t j = 0; j < n_features; j++) {                  \
                    const TYPE x = row[j];                                     \
                    infinite |= (x > MAX) | (x < -MAX);                        \
                    dest[j] = (x - center[j]) * factor[j] + offset[j];         \
                }                                                              \
            }                                                                  \
            else {                                                             \
                for (Py_ssize_t j = 0; j < n_features; j++) {                  \
                    const TYPE x = row[j];                                     \
                    infinite |= (x > MAX) | (x < -MAX);                        \
                    dest[j] = x * factor[j] + offset[j];                       \
                }                                                              \
            }                                                                  \
        }                                                                      \
        return infinite;                                                       \
    }

AFFINE_MAP(affine_map_f64, double, DBL_MAX)
AFFINE_MAP(affine_map_f32, float, FLT_MAX)

/*
 * The stored entries of a CSR matrix, each multiplied (or divided) by the
 * factor of its column: out_k = data_k * factor[indices_k]. One pass, with
 * no array of gathered factors. Returns the position of an index outside
 * [0, n_columns), or -1 when all are inside. In place (out is data), the
 * indices are all checked before anything is written.
 */
#define SCALE_ENTRIES(NAME, TYPE, INDEX)                                       \
    static Py_ssize_t NAME(const TYPE *data, const INDEX *indices,             \
                           Py_ssize_t n, const TYPE *factor,                   \
                           Py_ssize_t n_columns, int divide, TYPE *out)        \
    {                                                                          \
        /* As unsigned, a negative index is out of range too. */              \
        const uint64_t columns = (uint64_t)n_columns;                          \
        for (Py_ssize_t k = 0; out == data && k < n; k++) {                    \
            if ((uint64_t)indices[k] >= columns)                               \
                return k;                                                      \
        }                                                                      \
        for (Py_ssize_t k = 0; k < n; k++) {                                   \
            const INDEX j = indices[k];                                        \
            if ((uint64_t)j >= columns)                                        \
                return k;                                                      \
            out[k] = divide ? data[k] / factor[j] : data[k] * factor[j];       \
        }                                                                      \
        return -1;                                                             \
    }

SCALE_ENTRIES(scale_entries_f64_i32, double, int32_t)
SCALE_ENTRIES(scale_entries_f64_i64, double, int64_t)
SCALE_ENTRIES(scale_entries_f32_i32, float, int32_t)
SCALE_ENTRIES(scale_entries_f32_i64, float, int64_t)

/* a * b, or -1 (which check_buffer refuses) if negative or too large. */
static Py_ssize_t
checked_product(Py_ssize_t a, Py_ssize_t b)
{
    if (a < 0 || b < 0 || (b != 0 && a > PY_SSIZE_T_MAX / b))
        return -1;
    return a * b;
}

static int
check_buffer(Py_buffer *view, const char *name, Py_ssize_t items,
             Py_ssize_t itemsize)
{
    if (items < 0 || itemsize <= 0 || items > PY_SSIZE_T_MAX / itemsize ||
        view->len != items * itemsize || view->itemsize != itemsize) {
        PyErr_Format(PyExc_ValueError,
                     "%s: expected %zd contiguous items of %zd bytes", name,
                     items, itemsize);
        return -1;
    }
    return 0;
}

static PyObject *
py_shifted_sums(PyObject *self, PyObject *args)
{
    Py_buffer X, shift, weights, dev_sum, dev_sq, count = {0};
    Py_ssize_t n_rows, n_features, itemsize;
    int has_weights;
    if (!PyArg_ParseTuple(args, "y*nnny*py*w*w*|w*", &X, &n_rows, &n_features,
                          &itemsize, &shift, &has_weights, &weights, &dev_sum,
                          &dev_sq, &count))
        return NULL;
    PyObject *result = NULL;
    const int skip_nan = count.obj != NULL;
    if ((itemsize != 4 && itemsize != 8) ||
        check_buffer(&X, "X", checked_product(n_rows, n_features), itemsize) < 0 ||
        check_buffer(&shift, "shift", n_features, 8) < 0 ||
        (has_weights && check_buffer(&weights, "weights", n_rows, 8) < 0) ||
        check_buffer(&dev_sum, "dev_sum", n_features, 8) < 0 ||
        check_buffer(&dev_sq, "dev_sq", n_features, 8) < 0 ||
        (skip_nan && check_buffer(&count, "count", n_features, 8) < 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "X must be float32 or float64");
        goto done;
    }
    const double *w = has_weights ? (const double *)weights.buf : NULL;
    const double *s = (const double *)shift.buf;
    double *sums = (double *)dev_sum.buf, *squares = (double *)dev_sq.buf;
    double *counts = (double *)count.buf;
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 8 && skip_nan)
        shifted_sums_nan_f64((const double *)X.buf, n_rows, n_features, s, w,
                             sums, squares, counts);
    else if (itemsize == 8)
        shifted_sums_f64((const double *)X.buf, n_rows, n_features, s, w, sums,
                         squares);
    else if (skip_nan)
        shifted_sums_nan_f32((const float *)X.buf, n_rows, n_features, s, w,
                             sums, squares, counts);
    else
        shifted_sums_f32((const float *)X.buf, n_rows, n_features, s, w, sums,
                         squares);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&X);
    PyBuffer_Release(&shift);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&dev_sum);
    PyBuffer_Release(&dev_sq);
    PyBuffer_Release(&count);
    return result;
}

static PyObject *
py_affine_map(PyObject *self, PyObject *args)
{
    Py_buffer X, out, factor, offset, center;
    Py_ssize_t n_rows, n_features, itemsize;
    int has_center, infinite = 0;
    if (!PyArg_ParseTuple(args, "y*w*nnny*y*py*", &X, &out, &n_rows,
                          &n_features, &itemsize, &factor, &offset, &has_center,
                          &center))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t items = checked_product(n_rows, n_features);
    if ((itemsize != 4 && itemsize != 8) ||
        check_buffer(&X, "X", items, itemsize) < 0 ||
        check_buffer(&out, "out", items, itemsize) < 0 ||
        check_buffer(&factor, "factor", n_features, itemsize) < 0 ||
        check_buffer(&offset, "offset", n_features, itemsize) < 0 ||
        (has_center && check_buffer(&center, "center", n_features, itemsize) < 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "X must be float32 or float64");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 8)
        infinite = affine_map_f64(
            (const double *)X.buf, (double *)out.buf, n_rows, n_features,
            (const double *)factor.buf, (const double *)offset.buf,
            has_center ? (const double *)center.buf : NULL);
    else
        infinite = affine_map_f32(
            (const float *)X.buf, (float *)out.buf, n_rows, n_features,
            (const float *)factor.buf, (const float *)offset.buf,
            has_center ? (const float *)center.buf : NULL);
    Py_END_ALLOW_THREADS
    result = PyBool_FromLong(infinite);
done:
    PyBuffer_Release(&X);
    PyBuffer_Release(&out);
    PyBuffer_Release(&factor);
    PyBuffer_Release(&offset);
    PyBuffer_Release(&center);
    return result;
}

static PyObject *
py_scale_entries(PyObject *self, PyObject *args)
{
    Py_buffer data, indices, factor, out;
    Py_ssize_t n, n_columns, itemsize, index_itemsize, bad = -1;
    int divide;
    if (!PyArg_ParseTuple(args, "y*y*nnnny*pw*", &data, &indices, &n,
                          &itemsize, &index_itemsize, &n_columns, &factor,
                          &divide, &out))
        return NULL;
    PyObject *result = NULL;
    if ((itemsize != 4 && itemsize != 8) ||
        (index_itemsize != 4 && index_itemsize != 8) ||
        check_buffer(&data, "data", n, itemsize) < 0 ||
        check_buffer(&indices, "indices", n, index_itemsize) < 0 ||
        check_buffer(&factor, "factor", n_columns, itemsize) < 0 ||
        check_buffer(&out, "out", n, itemsize) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError,
                            "data must be float32 or float64, indices int32 "
                            "or int64");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 8 && index_itemsize == 4)
        bad = scale_entries_f64_i32(data.buf, indices.buf, n, factor.buf,
                                    n_columns, divide, out.buf);
    else if (itemsize == 8)
        bad = scale_entries_f64_i64(data.buf, indices.buf, n, factor.buf,
                                    n_columns, divide, out.buf);
    else if (index_itemsize == 4)
        bad = scale_entries_f32_i32(data.buf, indices.buf, n, factor.buf,
                                    n_columns, divide, out.buf);
    else
        bad = scale_entries_f32_i64(data.buf, indices.buf, n, factor.buf,
                                    n_columns, divide, out.buf);
    Py_END_ALLOW_THREADS
    if (bad >= 0)
        PyErr_Format(PyExc_ValueError,
                     "stored entry %zd has a column index outside [0, %zd): "
                     "the sparse matrix is malformed",
                     bad, n_columns);
    else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&factor);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"shifted_sums", py_shifted_sums, METH_VARARGS,
     "shifted_sums(X, n_rows, n_features, itemsize, shift, has_weights, "
     "weights, dev_sum, dev_sq[, count]): add the weighted sums of X - shift "
     "and of its square, per column, into dev_sum and dev_sq. With count, "
     "NaN is skipped and the weight of the values summed is added to count."},
    {"affine_map", py_affine_map, METH_VARARGS,
     "affine_map(X, out, n_rows, n_features, itemsize, factor, offset, "
     "has_center, center) -> bool: out = (X - center) * factor + offset; "
     "True if X holds an infinity."},
    {"scale_entries", py_scale_entries, METH_VARARGS,
     "scale_entries(data, indices, n, itemsize, index_itemsize, n_columns, "
     "factor, divide, out): out = data * factor[indices] (or / with divide), "
     "for the stored entries of a CSR matrix."},
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
