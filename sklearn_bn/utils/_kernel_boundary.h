/*
 * What the C kernels' modules share (the scaler's, preprocessing/_kernels.c,
 * and the networks', neural_network/_kernels.c): restrict, the AVX2 clones
 * picked at load time, and the one way their boundaries acquire the buffers
 * a kernel reads and writes. Include it after <Python.h>.
 */
#ifndef SKLEARN_BN_KERNEL_BOUNDARY_H
#define SKLEARN_BN_KERNEL_BOUNDARY_H

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
#define MULTIVERSIONED 1
#else
#define MULTIVERSION
#define MULTIVERSIONED 0
#endif

/*
 * The boundary between Python and each module's kernels. Every array a kernel
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

#endif /* SKLEARN_BN_KERNEL_BOUNDARY_H */
