/*
 * The networks' kernels, for float and double (KERNELS(f, float, sqrtf) and
 * KERNELS(d, double, sqrt)); _kernels.c includes this file and holds the
 * boundary between Python and them. Each loop computes what the numpy code of
 * _fused.py computes, operation by operation (see _kernels.c).
 */

#define KERNELS(SUFFIX, T, SQRT)                                                     \
    /* The gradient from the backward pass's sums: (g + alpha * p) / n for  \
       the first n_decayed values (the weights), g / n for the others. */     \
    static inline T finish_##SUFFIX(Py_ssize_t i, Py_ssize_t n_decayed, T g,   \
                                    T p, T alpha, T n)                         \
    {                                                                          \
        return (i < n_decayed ? g + alpha * p : g) / n;                        \
    }                                                                          \
                                                                               \
    MULTIVERSION static void adam_##SUFFIX(                                    \
        Py_ssize_t size, T *RESTRICT p, const T *RESTRICT g, T *RESTRICT m,    \
        T *RESTRICT v, T neg_lr, T beta_1, T one_minus_beta_1, T beta_2,       \
        T one_minus_beta_2, T eps, Py_ssize_t n_decayed, T alpha, T n)         \
    {                                                                          \
        for (Py_ssize_t i = 0; i < size; i++) {                                \
            const T gi = finish_##SUFFIX(i, n_decayed, g[i], p[i], alpha, n);  \
            const T mi = m[i] * beta_1 + one_minus_beta_1 * gi;                \
            const T vi = v[i] * beta_2 + (gi * gi) * one_minus_beta_2;         \
            m[i] = mi;                                                         \
            v[i] = vi;                                                         \
            p[i] = p[i] + (neg_lr * mi) / (SQRT(vi) + eps);                    \
        }                                                                      \
    }                                                                          \
                                                                               \
    MULTIVERSION static void sgd_##SUFFIX(                                     \
        Py_ssize_t size, T *RESTRICT p, const T *RESTRICT g,                   \
        T *RESTRICT velocity, T neg_lr, T momentum, int nesterov,              \
        Py_ssize_t n_decayed, T alpha, T n)                                    \
    {                                                                          \
        for (Py_ssize_t i = 0; i < size; i++) {                                \
            const T gi = finish_##SUFFIX(i, n_decayed, g[i], p[i], alpha, n);  \
            const T step = neg_lr * gi;                                        \
            const T vi = velocity[i] * momentum + step;                        \
            velocity[i] = vi;                                                  \
            p[i] = p[i] + (nesterov ? step + momentum * vi : vi);              \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* NaN stays NaN through the ReLU, as through numpy's maximum. */          \
    MULTIVERSION static void shift_activate_##SUFFIX(                          \
        Py_ssize_t rows, Py_ssize_t cols, T *RESTRICT z,                       \
        const T *RESTRICT shift, int relu)                                     \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            T *RESTRICT row = z + i * cols;                                    \
            if (relu)                                                          \
                for (Py_ssize_t j = 0; j < cols; j++) {                        \
                    const T x = row[j] + shift[j];                             \
                    row[j] = x < 0 ? (T)0 : x;                                 \
                }                                                              \
            else                                                               \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    row[j] = row[j] + shift[j];                                \
        }                                                                      \
    }                                                                          \
                                                                               \
    MULTIVERSION static void moving_average_##SUFFIX(                          \
        Py_ssize_t n, const T *RESTRICT running, const T *RESTRICT batch,      \
        T *RESTRICT out, T keep, T momentum, T factor)                         \
    {                                                                          \
        for (Py_ssize_t i = 0; i < n; i++)                                     \
            out[i] = keep * running[i] + momentum * (batch[i] * factor);       \
    }                                                                          \
                                                                               \
    /* Each row minus its maximum (NaN if the row holds one, as numpy's     \
       maximum): the softmax's shift, exact. */                               \
    static void subtract_row_max_##SUFFIX(Py_ssize_t rows, Py_ssize_t cols,    \
                                          T *RESTRICT z)                       \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            T *RESTRICT row = z + i * cols;                                    \
            T m = row[0];                                                      \
            for (Py_ssize_t j = 1; j < cols && m == m; j++)                    \
                if (row[j] > m || row[j] != row[j])                            \
                    m = row[j];                                                \
            for (Py_ssize_t j = 0; j < cols; j++)                              \
                row[j] = row[j] - m;                                           \
        }                                                                      \
    }                                                                          \
                                                                               \
    MULTIVERSION static void subtract_columns_##SUFFIX(                        \
        Py_ssize_t rows, Py_ssize_t cols, T *RESTRICT x,                       \
        const T *RESTRICT v)                                                   \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            T *RESTRICT row = x + i * cols;                                    \
            const T vi = v[i];                                                 \
            for (Py_ssize_t j = 0; j < cols; j++)                              \
                row[j] = row[j] - vi;                                          \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* x_hat = x * factor (per row), in place; out = act(x_hat * gamma +      \
       beta) (per column, beta NULL for none). */                             \
    MULTIVERSION static void normalize_rows_##SUFFIX(                          \
        Py_ssize_t rows, Py_ssize_t cols, T *RESTRICT x,                       \
        const T *RESTRICT factor, const T *RESTRICT gamma,                     \
        const T *RESTRICT beta, T *RESTRICT out, int relu)                     \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            T *RESTRICT row = x + i * cols;                                    \
            T *RESTRICT out_row = out + i * cols;                              \
            const T f = factor[i];                                             \
            for (Py_ssize_t j = 0; j < cols; j++) {                            \
                const T x_hat = row[j] * f;                                    \
                T y = x_hat * gamma[j];                                        \
                if (beta)                                                      \
                    y = y + beta[j];                                           \
                row[j] = x_hat;                                                \
                out_row[j] = relu && y < 0 ? (T)0 : y;                         \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* g = (g - (x_hat * s + m)) * inv, s, m and inv per row (m NULL for    \
       none): layer and RMS norm's gradient with respect to their input. */   \
    MULTIVERSION static void row_norm_input_##SUFFIX(                          \
        Py_ssize_t rows, Py_ssize_t cols, T *RESTRICT g,                       \
        const T *RESTRICT x_hat, const T *RESTRICT s, const T *RESTRICT m,     \
        const T *RESTRICT inv)                                                 \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            T *RESTRICT row = g + i * cols;                                    \
            const T *RESTRICT x = x_hat + i * cols;                            \
            const T si = s[i], ri = inv[i];                                    \
            if (m) {                                                           \
                const T mi = m[i];                                             \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    row[j] = (row[j] - (x[j] * si + mi)) * ri;                 \
            }                                                                  \
            else                                                               \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    row[j] = (row[j] - x[j] * si) * ri;                        \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* The kernels below take per-column vectors for each of the equal      \
       blocks of rows_per_group rows (ghost batch norm's virtual batches;    \
       one block for batch norm): the vector of block g at v + g * cols. */   \
    /* out may be x: no restrict on either. */                               \
    MULTIVERSION static void subtract_rows_##SUFFIX(                           \
        Py_ssize_t rows, Py_ssize_t cols, const T *x, T *out,                  \
        const T *RESTRICT v, Py_ssize_t rows_per_group)                        \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            const T *in_row = x + i * cols;                                    \
            T *out_row = out + i * cols;                                       \
            const T *RESTRICT vg = v + (i / rows_per_group) * cols;            \
            for (Py_ssize_t j = 0; j < cols; j++)                              \
                out_row[j] = in_row[j] - vg[j];                                \
        }                                                                      \
    }                                                                          \
                                                                               \
    MULTIVERSION static void affine_activate_##SUFFIX(                         \
        Py_ssize_t rows, Py_ssize_t cols, const T *RESTRICT x,                 \
        T *RESTRICT out, const T *RESTRICT scale, const T *RESTRICT shift,     \
        int relu, Py_ssize_t rows_per_group)                                   \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            const T *RESTRICT in_row = x + i * cols;                           \
            T *RESTRICT out_row = out + i * cols;                              \
            const T *RESTRICT sg = scale + (i / rows_per_group) * cols;        \
            if (relu)                                                          \
                for (Py_ssize_t j = 0; j < cols; j++) {                        \
                    const T y = in_row[j] * sg[j] + shift[j];                  \
                    out_row[j] = y < 0 ? (T)0 : y;                             \
                }                                                              \
            else                                                               \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    out_row[j] = in_row[j] * sg[j] + shift[j];                 \
        }                                                                      \
    }                                                                          \
                                                                               \
    MULTIVERSION static void relu_backward_##SUFFIX(                           \
        Py_ssize_t n, const T *RESTRICT a, T *RESTRICT delta)                  \
    {                                                                          \
        /* delta * 1 is delta, and delta * 0 is numpy's product where the   \
           unit was off (a signed zero, or NaN for a non-finite delta): a     \
           select of the two, which vectorizes, where a product by the        \
           comparison's result compiles to a branch. */                       \
        for (Py_ssize_t i = 0; i < n; i++) {                                   \
            const T d = delta[i], off = d * (T)0;                              \
            delta[i] = a[i] > 0 ? d : off;                                     \
        }                                                                      \
    }                                                                          \
                                                                               \
    MULTIVERSION static void batch_norm_input_##SUFFIX(                        \
        Py_ssize_t rows, Py_ssize_t cols, T *RESTRICT grad,                    \
        const T *RESTRICT centered, const T *RESTRICT a, const T *RESTRICT b,  \
        const T *RESTRICT s, const T *RESTRICT row_weight,                     \
        Py_ssize_t rows_per_group)                                             \
    {                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                \
            T *RESTRICT g = grad + i * cols;                                   \
            const T *RESTRICT c = centered + i * cols;                         \
            const Py_ssize_t offset = (i / rows_per_group) * cols;             \
            const T *RESTRICT ag = a + offset, *RESTRICT bg = b + offset;      \
            const T *RESTRICT sg = s + offset;                                 \
            if (row_weight) {                                                  \
                const T w = row_weight[i];                                     \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    g[j] = (g[j] - (c[j] * ag[j] + bg[j]) * w) * sg[j];        \
            }                                                                  \
            else                                                               \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    g[j] = (g[j] - (c[j] * ag[j] + bg[j])) * sg[j];            \
        }                                                                      \
    }

KERNELS(f, float, sqrtf)
KERNELS(d, double, sqrt)

