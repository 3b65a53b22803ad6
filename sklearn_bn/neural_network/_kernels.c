/*
 * The C kernels of the batch-norm networks: the elementwise passes of a
 * training step that numpy makes in several, each in one pass. Thirteen
 * entry points (see `methods` at the end):
 *     adam             Adam's step over flat parameters, moments and gradient
 *                      (the gradient finished first: the L2 penalty added,
 *                      the sums divided by the number of samples)
 *     sgd              the step of SGD with momentum (Nesterov's or not)
 *     shift_activate   z = act(z + shift), a layer's bias and activation
 *     running_moments  keep * running + momentum * batch, for the running
 *                      mean and variance (the batch's variance unbiased),
 *                      one step per mini-batch
 *     subtract_columns x -= v[:, None], layer norm's centring
 *     subtract_row_max each row minus its maximum, the softmax's shift
 *     normalize_rows   layer and RMS norm's x_hat and output, with the ReLU
 *     row_norm_input   layer and RMS norm's gradient with respect to their
 *                      input
 *     affine_activate  out = act(x * scale + shift), batch norm's output and
 *                      the activation after it
 *     relu_backward    delta *= (a > 0), the ReLU's derivative
 *     column_moments   batch norm's mean, variance and centring, per block
 *     batch_norm_output
 *                      column_moments, then affine_activate with scale
 *                      gamma * inv_std: batch norm's forward pass
 *     batch_norm_gradients
 *                      batch norm's dgamma, dbeta and dz, per block, after
 *                      the ReLU's derivative where the ReLU follows it
 *
 * Each computes what the numpy code of the networks computes, operation by
 * operation in the same order and rounding (the products and sums are not
 * contracted into fused multiply-adds: the build passes -ffp-contract=off),
 * so that a fit gives the same bits with the kernels and without them; the
 * tests compare the two. Batch norm's sums over the rows run row after row,
 * as numpy's sums over axis 0 of a C-contiguous array do; the other
 * reductions stay with numpy and BLAS. The activations fused here are the
 * identity and the ReLU: numpy's tanh and exp are its own vectorized
 * functions, which the C library's do not reproduce to the bit.
 *
 * The boundary takes buffers (numpy arrays among them) and checks them before
 * anything runs: C-contiguous, float32 or float64 in native byte order, all
 * of one type, of the shapes the kernel needs, writable where it writes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

/* clang reads the standard pragma; GCC takes -ffp-contract=off (setup.py). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "../utils/_kernel_boundary.h"

enum activation { IDENTITY = 0, RELU = 1 };

#include "_network_kernels.h"

/* ------------------------------------------------------------------------ */
/* The boundary.                                                             */

/* The float or the double version of kernel NAME, as the arrays' type says.
   The float version takes the double arguments rounded to float, as numpy
   rounds a Python float into a float32 array's dtype. */
#define DISPATCH(type, NAME, ...)                                              \
    do {                                                                       \
        if ((type) == 'f')                                                     \
            NAME##_f(__VA_ARGS__);                                             \
        else                                                                   \
            NAME##_d(__VA_ARGS__);                                             \
    } while (0)

/* The item type the held views share, 'f' or 'd'; else 0, with an
   exception set and nothing held. */
static char
one_type(Py_buffer *views, const spec *specs, int n)
{
    const char type = item_type(&views[0]);
    for (int k = 1; k < n; k++) {
        if (views[k].obj && item_type(&views[k]) != type) {
            PyErr_Format(PyExc_ValueError,
                         "%s must have the dtype of %s: all float32 or all "
                         "float64",
                         specs[k].name, specs[0].name);
            release_all(views, n);
            return 0;
        }
    }
    return type;
}

/* acquire_all, for kernels that take arrays of one type: 'f', 'd', or 0
   with an exception set and nothing held. */
static char
acquire_typed(PyObject **objs, Py_buffer *views, const spec *specs, int n)
{
    if (acquire_all(objs, views, specs, n) < 0)
        return 0;
    return one_type(views, specs, n);
}

/* Every view of views[first:last] (but the empty ones) has length items
   along its first dimension; else an exception, and everything released. */
static int
check_lengths(Py_buffer *views, const spec *specs, int first, int last,
              Py_ssize_t length, Py_buffer *all, int n_all)
{
    for (int k = first; k < last; k++) {
        if (views[k].obj && views[k].shape[0] != length) {
            PyErr_Format(PyExc_ValueError, "%s must have %zd items, not %zd",
                         specs[k].name, length, views[k].shape[0]);
            release_all(all, n_all);
            return -1;
        }
    }
    return 0;
}

/* One row of a matrix: check that a 2-D view has the shape of another. */
static int
check_same_shape(Py_buffer *a, Py_buffer *b, const spec *sa, const spec *sb,
                 Py_buffer *all, int n_all)
{
    if (a->shape[0] != b->shape[0] || a->shape[1] != b->shape[1]) {
        PyErr_Format(PyExc_ValueError,
                     "%s and %s must have the same shape, not (%zd, %zd) and "
                     "(%zd, %zd)",
                     sa->name, sb->name, a->shape[0], a->shape[1], b->shape[0],
                     b->shape[1]);
        release_all(all, n_all);
        return -1;
    }
    return 0;
}

/* The gradient's finishing arguments: n_decayed in [0, size], n > 0. */
static int
check_finish(Py_ssize_t n_decayed, Py_ssize_t size, double n)
{
    if (n_decayed < 0 || n_decayed > size) {
        PyErr_Format(PyExc_ValueError,
                     "n_decayed must be in [0, %zd], not %zd", size, n_decayed);
        return -1;
    }
    if (!(n > 0)) {
        PyErr_SetString(PyExc_ValueError, "n_samples must be positive");
        return -1;
    }
    return 0;
}

/* Rows per block of `groups` equal blocks of rows, or -1 with an exception
   set. */
static Py_ssize_t
rows_per_group(Py_ssize_t rows, Py_ssize_t groups)
{
    if (groups < 1 || rows % groups) {
        PyErr_Format(PyExc_ValueError,
                     "groups must divide the %zd rows, not be %zd", rows,
                     groups);
        return -1;
    }
    return rows / groups;
}

/* Check a kernel's per-block column vectors (groups * cols items each) and
   take the rows per block; -1 with an exception set and everything
   released. */
static Py_ssize_t
block_rows(Py_buffer *v, const spec *specs, int first, int last,
           Py_ssize_t groups, int n_all)
{
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    const Py_ssize_t per_group = rows_per_group(rows, groups);
    if (per_group < 0) {
        release_all(v, n_all);
        return -1;
    }
    if (check_lengths(v, specs, first, last, groups * cols, v, n_all) < 0)
        return -1;
    return per_group;
}

static PyObject *
py_adam(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"params", REAL, 1, 1},
        {"grads", REAL, 1, 0},
        {"m", REAL, 1, 1},
        {"v", REAL, 1, 1},
    };
    PyObject *objs[4];
    double learning_rate, beta_1, beta_2, eps, alpha, n;
    Py_ssize_t n_decayed;
    Py_buffer v[4];
    if (!PyArg_ParseTuple(args, "OOOOddddndd", &objs[0], &objs[1], &objs[2],
                          &objs[3], &learning_rate, &beta_1, &beta_2, &eps,
                          &n_decayed, &alpha, &n))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 4);
    if (!type || check_lengths(v, specs, 1, 4, v[0].shape[0], v, 4) < 0)
        return NULL;
    const Py_ssize_t size = v[0].shape[0];
    if (check_finish(n_decayed, size, n) < 0) {
        release_all(v, 4);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, adam, size, v[0].buf, v[1].buf, v[2].buf, v[3].buf,
             -learning_rate, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, eps,
             n_decayed, alpha, n);
    Py_END_ALLOW_THREADS
    release_all(v, 4);
    Py_RETURN_NONE;
}

static PyObject *
py_sgd(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"params", REAL, 1, 1},
        {"grads", REAL, 1, 0},
        {"velocities", REAL, 1, 1},
    };
    PyObject *objs[3];
    double learning_rate, momentum, alpha, n;
    int nesterov;
    Py_ssize_t n_decayed;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOOddpndd", &objs[0], &objs[1], &objs[2],
                          &learning_rate, &momentum, &nesterov, &n_decayed,
                          &alpha, &n))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 3);
    if (!type || check_lengths(v, specs, 1, 3, v[0].shape[0], v, 3) < 0)
        return NULL;
    const Py_ssize_t size = v[0].shape[0];
    if (check_finish(n_decayed, size, n) < 0) {
        release_all(v, 3);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, sgd, size, v[0].buf, v[1].buf, v[2].buf, -learning_rate,
             momentum, nesterov, n_decayed, alpha, n);
    Py_END_ALLOW_THREADS
    release_all(v, 3);
    Py_RETURN_NONE;
}

static int
activation_code(int code)
{
    if (code != IDENTITY && code != RELU) {
        PyErr_Format(PyExc_ValueError,
                     "activation must be 0 (identity) or 1 (relu), not %d",
                     code);
        return -1;
    }
    return 0;
}

static PyObject *
py_shift_activate(PyObject *self, PyObject *args)
{
    static const spec specs[] = {{"z", REAL, 2, 1}, {"shift", REAL, 1, 0}};
    PyObject *objs[2];
    int code;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OOi", &objs[0], &objs[1], &code) ||
        activation_code(code) < 0)
        return NULL;
    const char type = acquire_typed(objs, v, specs, 2);
    if (!type || check_lengths(v, specs, 1, 2, v[0].shape[1], v, 2) < 0)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, shift_activate, rows, cols, v[0].buf, v[1].buf,
             code == RELU);
    Py_END_ALLOW_THREADS
    release_all(v, 2);
    Py_RETURN_NONE;
}

static PyObject *
py_affine_activate(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"x", REAL, 2, 0},
        {"out", REAL, 2, 1},
        {"scale", REAL, 1, 0},
        {"shift", REAL, 1, 0},
    };
    PyObject *objs[4];
    int code;
    Py_ssize_t groups = 1;
    Py_buffer v[4];
    if (!PyArg_ParseTuple(args, "OOOOi|n", &objs[0], &objs[1], &objs[2],
                          &objs[3], &code, &groups) ||
        activation_code(code) < 0)
        return NULL;
    const char type = acquire_typed(objs, v, specs, 4);
    if (!type ||
        check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 4) < 0)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    const Py_ssize_t per_group = block_rows(v, specs, 2, 3, groups, 4);
    if (per_group < 0 || check_lengths(v, specs, 3, 4, cols, v, 4) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, affine_activate, rows, cols, v[0].buf, v[1].buf, v[2].buf,
             v[3].buf, code == RELU, per_group);
    Py_END_ALLOW_THREADS
    release_all(v, 4);
    Py_RETURN_NONE;
}

static PyObject *
py_running_moments(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"mean", REAL, 1, 0},       {"var", REAL, 1, 0},
        {"batch_mean", REAL, 2, 0}, {"batch_var", REAL, 2, 0},
        {"out", REAL, 2, 1},
    };
    static const spec steps_spec = {"steps", FLOAT64, 2, 0};
    PyObject *objs[5], *steps_obj;
    Py_buffer v[5], steps;
    if (!PyArg_ParseTuple(args, "OOOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &steps_obj))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 5);
    if (!type || check_lengths(v, specs, 1, 2, v[0].shape[0], v, 5) < 0)
        return NULL;
    if (acquire(steps_obj, &steps, &steps_spec) < 0) {
        release_all(v, 5);
        return NULL;
    }
    const Py_ssize_t n = v[0].shape[0], n_steps = v[2].shape[0];
    const char *problem = NULL;
    if (check_same_shape(&v[2], &v[3], &specs[2], &specs[3], v, 5) < 0) {
        PyBuffer_Release(&steps);
        return NULL;
    }
    if (v[2].shape[1] != n)
        problem = "batch_mean and batch_var must have len(mean) columns";
    else if (v[4].shape[0] != 2 || v[4].shape[1] != n)
        problem = "out must have shape (2, len(mean))";
    else if (steps.shape[0] != 3 || steps.shape[1] != n_steps)
        problem = "steps must have shape (3, len(batch_mean))";
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        release_all(v, 5);
        PyBuffer_Release(&steps);
        return NULL;
    }
    const char *out = v[4].buf;
    const double *keep = steps.buf;
    DISPATCH(type, running_moments, n_steps, n, v[0].buf, v[1].buf, v[2].buf,
             v[3].buf, (void *)out, (void *)(out + n * v[4].itemsize), keep,
             keep + n_steps, keep + 2 * n_steps);
    release_all(v, 5);
    PyBuffer_Release(&steps);
    Py_RETURN_NONE;
}

static PyObject *
py_subtract_row_max(PyObject *self, PyObject *args)
{
    static const spec specs[] = {{"z", REAL, 2, 1}};
    PyObject *objs[1];
    Py_buffer v[1];
    if (!PyArg_ParseTuple(args, "O", &objs[0]))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 1);
    if (!type)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    if (cols > 0) {
        DISPATCH(type, subtract_row_max, rows, cols, v[0].buf);
    }
    release_all(v, 1);
    Py_RETURN_NONE;
}

static PyObject *
py_subtract_columns(PyObject *self, PyObject *args)
{
    static const spec specs[] = {{"x", REAL, 2, 1}, {"v", REAL, 1, 0}};
    PyObject *objs[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO", &objs[0], &objs[1]))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 2);
    if (!type || check_lengths(v, specs, 1, 2, v[0].shape[0], v, 2) < 0)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, subtract_columns, rows, cols, v[0].buf, v[1].buf);
    Py_END_ALLOW_THREADS
    release_all(v, 2);
    Py_RETURN_NONE;
}

static PyObject *
py_normalize_rows(PyObject *self, PyObject *args)
{
    static const spec specs[] = {{"x", REAL, 2, 1},     {"out", REAL, 2, 1},
                                 {"factor", REAL, 1, 0}, {"gamma", REAL, 1, 0},
                                 {"beta", REAL, 1, 0, 1}};
    PyObject *objs[5];
    int code;
    Py_buffer v[5];
    if (!PyArg_ParseTuple(args, "OOOOOi", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &code) ||
        activation_code(code) < 0)
        return NULL;
    const char type = acquire_typed(objs, v, specs, 5);
    if (!type ||
        check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 5) < 0 ||
        check_lengths(v, specs, 2, 3, v[0].shape[0], v, 5) < 0 ||
        check_lengths(v, specs, 3, 5, v[0].shape[1], v, 5) < 0)
        return NULL;
    if (v[0].buf == v[1].buf) {
        release_all(v, 5);
        return PyErr_Format(PyExc_ValueError, "out must not be x");
    }
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, normalize_rows, rows, cols, v[0].buf, v[2].buf, v[3].buf,
             v[4].obj ? v[4].buf : NULL, v[1].buf, code == RELU);
    Py_END_ALLOW_THREADS
    release_all(v, 5);
    Py_RETURN_NONE;
}

static PyObject *
py_row_norm_input(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"g", REAL, 2, 1},    {"x_hat", REAL, 2, 0}, {"s", REAL, 1, 0},
        {"m", REAL, 1, 0, 1}, {"inv", REAL, 1, 0},
    };
    PyObject *objs[5];
    Py_buffer v[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4]))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 5);
    if (!type ||
        check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 5) < 0 ||
        check_lengths(v, specs, 2, 5, v[0].shape[0], v, 5) < 0)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, row_norm_input, rows, cols, v[0].buf, v[1].buf, v[2].buf,
             v[3].obj ? v[3].buf : NULL, v[4].buf);
    Py_END_ALLOW_THREADS
    release_all(v, 5);
    Py_RETURN_NONE;
}

static PyObject *
py_relu_backward(PyObject *self, PyObject *args)
{
    static const spec specs[] = {{"a", REAL, 2, 0}, {"delta", REAL, 2, 1}};
    PyObject *objs[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO", &objs[0], &objs[1]))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 2);
    if (!type || check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 2) < 0)
        return NULL;
    const Py_ssize_t n = v[0].shape[0] * v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, relu_backward, n, v[0].buf, v[1].buf);
    Py_END_ALLOW_THREADS
    release_all(v, 2);
    Py_RETURN_NONE;
}

static PyObject *
py_column_moments(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"x", REAL, 2, 0, 0, 1},    {"centered", REAL, 2, 1},
        {"mean", REAL, 1, 1},       {"var", REAL, 1, 1},
        {"inv_std", REAL, 1, 1},    {"share", REAL, 1, 0, 1},
    };
    PyObject *objs[6];
    double eps;
    Py_ssize_t groups = 1;
    Py_buffer v[6];
    if (!PyArg_ParseTuple(args, "OOOOOOd|n", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &eps, &groups))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 6);
    if (!type ||
        check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 6) < 0)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    const Py_ssize_t per_group = block_rows(v, specs, 2, 5, groups, 6);
    if (per_group < 0 || check_lengths(v, specs, 5, 6, rows, v, 6) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, column_moments, rows, cols, v[0].buf,
             v[1].buf, v[2].buf, v[3].buf, v[4].buf,
             v[5].obj ? v[5].buf : NULL, eps, per_group);
    Py_END_ALLOW_THREADS
    release_all(v, 6);
    Py_RETURN_NONE;
}

static PyObject *
py_batch_norm_output(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"x", REAL, 2, 0, 0, 1},  {"centered", REAL, 2, 1},
        {"out", REAL, 2, 1},      {"mean", REAL, 1, 1},
        {"var", REAL, 1, 1},      {"inv_std", REAL, 1, 1},
        {"gamma", REAL, 1, 0},    {"beta", REAL, 1, 0},
        {"share", REAL, 1, 0, 1},
    };
    PyObject *objs[9];
    double eps;
    int code;
    Py_buffer v[9];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOdi", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7],
                          &objs[8], &eps, &code) ||
        activation_code(code) < 0)
        return NULL;
    const char type = acquire_typed(objs, v, specs, 9);
    if (!type ||
        check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 9) < 0 ||
        check_same_shape(&v[0], &v[2], &specs[0], &specs[2], v, 9) < 0)
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    if (check_lengths(v, specs, 3, 8, cols, v, 9) < 0 ||
        check_lengths(v, specs, 8, 9, rows, v, 9) < 0)
        return NULL;
    if (v[2].buf == v[0].buf || v[2].buf == v[1].buf) {
        release_all(v, 9);
        return PyErr_Format(PyExc_ValueError,
                            "out must not be x or centered");
    }
    void *scale = PyMem_Malloc(cols * v[0].itemsize);
    if (!scale) {
        release_all(v, 9);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, batch_norm_output, rows, cols, v[0].buf, v[1].buf,
             v[2].buf, v[3].buf, v[4].buf, v[5].buf,
             v[8].obj ? v[8].buf : NULL, v[6].buf, v[7].buf, scale, eps,
             code == RELU);
    Py_END_ALLOW_THREADS
    PyMem_Free(scale);
    release_all(v, 9);
    Py_RETURN_NONE;
}

static PyObject *
py_batch_norm_gradients(PyObject *self, PyObject *args)
{
    static const spec specs[] = {
        {"grad", REAL, 2, 1, 0, 1}, {"centered", REAL, 2, 0},
        {"relu_out", REAL, 2, 0, 1}, {"dgamma", REAL, 1, 1},
        {"dbeta", REAL, 1, 1},      {"inv_std", REAL, 1, 0},
        {"gamma", REAL, 1, 0, 1},   {"share", REAL, 1, 0, 1},
    };
    PyObject *objs[8];
    Py_ssize_t groups = 1;
    Py_buffer v[8];
    if (!PyArg_ParseTuple(args, "OOOOOOOO|n", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7],
                          &groups))
        return NULL;
    const char type = acquire_typed(objs, v, specs, 8);
    if (!type ||
        check_same_shape(&v[0], &v[1], &specs[0], &specs[1], v, 8) < 0 ||
        (v[2].obj &&
         check_same_shape(&v[0], &v[2], &specs[0], &specs[2], v, 8) < 0))
        return NULL;
    const Py_ssize_t rows = v[0].shape[0], cols = v[0].shape[1];
    const Py_ssize_t per_group = block_rows(v, specs, 3, 6, groups, 8);
    if (per_group < 0 || check_lengths(v, specs, 6, 7, cols, v, 8) < 0 ||
        check_lengths(v, specs, 7, 8, rows, v, 8) < 0)
        return NULL;
    if (v[0].buf == v[1].buf || v[0].buf == v[2].buf) {
        release_all(v, 8);
        return PyErr_Format(PyExc_ValueError,
                            "centered and relu_out must not be grad");
    }
    void *scratch = PyMem_Malloc(3 * cols * v[0].itemsize);
    if (!scratch) {
        release_all(v, 8);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    DISPATCH(type, batch_norm_gradients, rows, cols, v[0].buf, v[1].buf,
             v[5].buf, v[6].obj ? v[6].buf : NULL, v[7].obj ? v[7].buf : NULL,
             v[2].obj ? v[2].buf : NULL, v[3].buf, v[4].buf, scratch,
             per_group);
    Py_END_ALLOW_THREADS
    PyMem_Free(scratch);
    release_all(v, 8);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"adam", py_adam, METH_VARARGS,
     "adam(params, grads, m, v, learning_rate, beta_1, beta_2, epsilon, "
     "n_decayed, alpha, n_samples): one Adam step in place over 1-D arrays, "
     "with the gradient g = (grads + alpha * params) / n_samples for the "
     "first n_decayed values and grads / n_samples for the others: m = "
     "beta_1 * m + (1 - beta_1) * g, v = beta_2 * v + g**2 * (1 - beta_2), "
     "params += -learning_rate * m / (sqrt(v) + epsilon)."},
    {"sgd", py_sgd, METH_VARARGS,
     "sgd(params, grads, velocities, learning_rate, momentum, nesterov, "
     "n_decayed, alpha, n_samples): one step of SGD with momentum in place "
     "over 1-D arrays, g as for adam: velocities = momentum * velocities - "
     "learning_rate * g, params += velocities, or with nesterov params += "
     "momentum * velocities - learning_rate * g."},
    {"shift_activate", py_shift_activate, METH_VARARGS,
     "shift_activate(z, shift, activation): z = act(z + shift) in place, "
     "shift added to each row; activation 0 (identity) or 1 (relu)."},
    {"affine_activate", py_affine_activate, METH_VARARGS,
     "affine_activate(x, out, scale, shift, activation[, groups]): out = "
     "act(x * scale + shift), per column (scale per block of rows with "
     "groups: equal blocks of rows, a vector each, end to end); activation 0 (identity) or 1 (relu)."},
    {"running_moments", py_running_moments, METH_VARARGS,
     "running_moments(mean, var, batch_mean, batch_var, out, steps): the "
     "running statistics' steps, one per row t of batch_mean and batch_var, "
     "from out[0] = mean and out[1] = var: out[0] = keep * out[0] + momentum "
     "* batch_mean[t] and out[1] = keep * out[1] + momentum * (batch_var[t] "
     "* unbiased), with keep, momentum and unbiased column t of steps."},
    {"subtract_row_max", py_subtract_row_max, METH_VARARGS,
     "subtract_row_max(z): each row of z minus its maximum, in place (NaN "
     "where the row holds NaN)."},
    {"subtract_columns", py_subtract_columns, METH_VARARGS,
     "subtract_columns(x, v): x -= v[:, None] in place, v[i] subtracted from "
     "row i."},
    {"normalize_rows", py_normalize_rows, METH_VARARGS,
     "normalize_rows(x, out, factor, gamma, beta, activation): x *= "
     "factor[:, None] in place, then out = act(x * gamma + beta) (beta None "
     "for none); activation 0 (identity) or 1 (relu)."},
    {"row_norm_input", py_row_norm_input, METH_VARARGS,
     "row_norm_input(g, x_hat, s, m, inv): g = (g - (x_hat * s + m)) * inv "
     "in place, s, m and inv per row (m None for none)."},
    {"relu_backward", py_relu_backward, METH_VARARGS,
     "relu_backward(a, delta): delta *= (a > 0) in place."},
    {"column_moments", py_column_moments, METH_VARARGS,
     "column_moments(x, centered, mean, var, inv_std, share, epsilon[, "
     "groups]): batch norm's statistics of each block of rows (as for "
     "affine_activate): the mean and biased variance of each column and "
     "inv_std = 1 / sqrt(var + epsilon), with centered = x - mean (centered "
     "may be x); with share (each row's share of its block's weight, None "
     "for none) the means are sums of share * x and share * centered**2. "
     "Each sum runs over the rows in order, as numpy's over axis 0."},
    {"batch_norm_output", py_batch_norm_output, METH_VARARGS,
     "batch_norm_output(x, centered, out, mean, var, inv_std, gamma, beta, "
     "share, epsilon, activation): column_moments, then out = "
     "act(centered * (gamma * inv_std) + beta); activation 0 (identity) or "
     "1 (relu)."},
    {"batch_norm_gradients", py_batch_norm_gradients, METH_VARARGS,
     "batch_norm_gradients(grad, centered, relu_out, dgamma, dbeta, inv_std, "
     "gamma, share[, groups]): per block of rows (as for column_moments), "
     "grad *= (relu_out > 0) first where relu_out is not None, then dbeta = "
     "sum(grad), dgamma = sum(grad * centered) * inv_std, and grad = (grad - "
     "(centered * a + b) * share) * s in place (centered and relu_out not "
     "grad), with a = inv_std * dgamma / n and b = dbeta / n (undivided with "
     "share), s = gamma * inv_std (gamma None for 1)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "One-pass kernels for the training step of the batch-norm networks.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
