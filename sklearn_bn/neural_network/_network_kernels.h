/*
 * The networks' kernels, for float and double (KERNELS(f, float, sqrtf) and
 * KERNELS(d, double, sqrt)); _kernels.c includes this file and holds the
 * boundary between Python and them. Each loop computes what the numpy code of
 * _fused.py computes, operation by operation (see _kernels.c).
 */

#define KERNELS(SUFFIX, T, SQRT)                                               \
    /* The gradient from the backward pass's sums: (g + alpha * p) / n for     \
       the first n_decayed values (the weights), g / n for the others. */      \
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
    /* The running statistics' steps, one per mini-batch in order, from        \
       mean_out = mean and var_out = var: mean_out = keep[t] * mean_out +      \
       momentum[t] * batch_mean[t] and var_out = keep[t] * var_out +           \
       momentum[t] * (batch_var[t] * unbiased[t]), each step's numbers rounded \
       to T (the step of one mini-batch, taken steps times). */                \
    MULTIVERSION static void running_moments_##SUFFIX(                         \
        Py_ssize_t steps, Py_ssize_t n, const T *RESTRICT mean,                \
        const T *RESTRICT var, const T *RESTRICT batch_mean,                   \
        const T *RESTRICT batch_var, T *RESTRICT mean_out, T *RESTRICT var_out,\
        const double *RESTRICT keep, const double *RESTRICT momentum,          \
        const double *RESTRICT unbiased)                                       \
    {                                                                          \
        for (Py_ssize_t i = 0; i < n; i++) {                                   \
            mean_out[i] = mean[i];                                             \
            var_out[i] = var[i];                                               \
        }                                                                      \
        for (Py_ssize_t t = 0; t < steps; t++) {                               \
            const T k = (T)keep[t], m = (T)momentum[t], u = (T)unbiased[t];    \
            const T *RESTRICT bm = batch_mean + t * n;                         \
            const T *RESTRICT bv = batch_var + t * n;                          \
            for (Py_ssize_t i = 0; i < n; i++) {                               \
                mean_out[i] = k * mean_out[i] + m * bm[i];                     \
                var_out[i] = k * var_out[i] + m * (bv[i] * u);                 \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* Each row minus its maximum (NaN if the row holds one, as numpy's        \
       maximum): the softmax's shift, exact. */                                \
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
    /* x_hat = x * factor (per row), in place; out = act(x_hat * gamma +       \
       beta) (per column, beta NULL for none). */                              \
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
    /* g = (g - (x_hat * s + m)) * inv, s, m and inv per row (m NULL for       \
       none): layer and RMS norm's gradient with respect to their input. */    \
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
    /* The ReLU's derivative for delta at output a: delta * 1 is delta, and    \
       delta * 0 is numpy's product where the unit was off (a signed zero,     \
       or NaN for a non-finite delta): a select of the two, which              \
       vectorizes, where a product by the comparison's result compiles to a    \
       branch. */                                                              \
    static inline T relu_derivative_##SUFFIX(T a, T delta)                     \
    {                                                                          \
        return a > 0 ? delta : delta * (T)0;                                   \
    }                                                                          \
                                                                               \
    MULTIVERSION static void relu_backward_##SUFFIX(                           \
        Py_ssize_t n, const T *RESTRICT a, T *RESTRICT delta)                  \
    {                                                                          \
        for (Py_ssize_t i = 0; i < n; i++)                                     \
            delta[i] = relu_derivative_##SUFFIX(a[i], delta[i]);               \
    }                                                                          \
                                                                               \
    /* The kernels below take per-column vectors for each of the equal         \
       blocks of rows_per_group rows (ghost batch norm's virtual batches;      \
       one block for batch norm): the vector of block g at v + g * cols. */    \
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
    /* Batch norm's statistics of each block: mean, biased variance and        \
       inv_std = 1 / sqrt(var + eps) of each column, centered = x - mean       \
       (centered may be x). With share (each row's share of its block's        \
       weight) the sums are of share * x and share * centered**2, and are      \
       not divided by the block's rows. Each sum runs row after row from       \
       the block's first, as numpy sums over the rows of a C-contiguous        \
       array. */                                                               \
    MULTIVERSION static void column_moments_##SUFFIX(                          \
        Py_ssize_t rows, Py_ssize_t cols, const T *x, T *centered,             \
        T *RESTRICT mean, T *RESTRICT var, T *RESTRICT inv_std,                \
        const T *RESTRICT share, T eps, Py_ssize_t rows_per_group)             \
    {                                                                          \
        const T count = (T)rows_per_group;                                     \
        for (Py_ssize_t start = 0; start < rows; start += rows_per_group) {    \
            const Py_ssize_t offset = start / rows_per_group * cols;           \
            const Py_ssize_t stop = start + rows_per_group;                    \
            T *RESTRICT m = mean + offset, *RESTRICT q = var + offset;         \
            for (Py_ssize_t j = 0; j < cols; j++)                              \
                m[j] = share ? share[start] * x[start * cols + j]              \
                             : x[start * cols + j];                            \
            for (Py_ssize_t i = start + 1; i < stop; i++) {                    \
                const T *row = x + i * cols;                                   \
                if (share) {                                                   \
                    const T w = share[i];                                      \
                    for (Py_ssize_t j = 0; j < cols; j++)                      \
                        m[j] = m[j] + w * row[j];                              \
                }                                                              \
                else                                                           \
                    for (Py_ssize_t j = 0; j < cols; j++)                      \
                        m[j] = m[j] + row[j];                                  \
            }                                                                  \
            if (!share)                                                        \
                for (Py_ssize_t j = 0; j < cols; j++)                          \
                    m[j] = m[j] / count;                                       \
            for (Py_ssize_t i = start; i < stop; i++) {                        \
                const T *row = x + i * cols;                                   \
                T *c = centered + i * cols;                                    \
                const T w = share ? share[i] : (T)1;                           \
                for (Py_ssize_t j = 0; j < cols; j++) {                        \
                    const T d = row[j] - m[j], sq = d * d;                     \
                    c[j] = d;                                                  \
                    const T t = share ? w * sq : sq;                           \
                    q[j] = i == start ? t : q[j] + t;                          \
                }                                                              \
            }                                                                  \
            for (Py_ssize_t j = 0; j < cols; j++) {                            \
                if (!share)                                                    \
                    q[j] = q[j] / count;                                       \
                inv_std[offset + j] = (T)1 / SQRT(q[j] + eps);                 \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* Batch norm's forward pass in training, of the whole batch:              \
       column_moments, then out = act(centered * scale + beta) with scale =    \
       gamma * inv_std, the arithmetic of the two kernels and of numpy's       \
       product in between. scale holds cols values. */                         \
    MULTIVERSION static void batch_norm_output_##SUFFIX(                       \
        Py_ssize_t rows, Py_ssize_t cols, const T *x, T *centered,             \
        T *RESTRICT out, T *RESTRICT mean, T *RESTRICT var,                    \
        T *RESTRICT inv_std, const T *RESTRICT share,                          \
        const T *RESTRICT gamma, const T *RESTRICT beta, T *RESTRICT scale,    \
        T eps, int relu)                                                       \
    {                                                                          \
        column_moments_##SUFFIX(rows, cols, x, centered, mean, var, inv_std,   \
                                share, eps, rows);                             \
        for (Py_ssize_t j = 0; j < cols; j++)                                  \
            scale[j] = gamma[j] * inv_std[j];                                  \
        affine_activate_##SUFFIX(rows, cols, centered, out, scale, beta, relu, \
                                 rows);                                        \
    }                                                                          \
                                                                               \
    /* Batch norm's gradients, per block: with relu_out, grad first takes      \
       the derivative of the ReLU whose output it is (in place); then dbeta    \
       = sum(grad), dgamma = sum(grad * centered) * inv_std, and the           \
       gradient with respect to the input, grad = (grad - (centered * a +      \
       b) [* share]) * s in place, with a = inv_std * dgamma / n, b = dbeta    \
       / n (undivided with share, the rows' weights) and s = gamma *           \
       inv_std (inv_std with gamma NULL). scratch holds 3 * cols values. */    \
    MULTIVERSION static void batch_norm_gradients_##SUFFIX(                    \
        Py_ssize_t rows, Py_ssize_t cols, T *RESTRICT grad,                    \
        const T *RESTRICT centered, const T *RESTRICT inv_std,                 \
        const T *RESTRICT gamma, const T *RESTRICT share,                      \
        const T *RESTRICT relu_out, T *RESTRICT dgamma, T *RESTRICT dbeta,     \
        T *RESTRICT scratch, Py_ssize_t rows_per_group)                        \
    {                                                                          \
        const T count = (T)rows_per_group;                                     \
        T *RESTRICT a = scratch, *RESTRICT b = scratch + cols;                 \
        T *RESTRICT s = scratch + 2 * cols;                                    \
        for (Py_ssize_t start = 0; start < rows; start += rows_per_group) {    \
            const Py_ssize_t offset = start / rows_per_group * cols;           \
            T *RESTRICT dg = dgamma + offset, *RESTRICT db = dbeta + offset;   \
            const T *RESTRICT r = inv_std + offset;                            \
            const Py_ssize_t stop = start + rows_per_group;                    \
            for (Py_ssize_t i = start; i < stop; i++) {                        \
                T *RESTRICT g = grad + i * cols;                               \
                const T *RESTRICT c = centered + i * cols;                     \
                if (relu_out) {                                                \
                    const T *RESTRICT o = relu_out + i * cols;                 \
                    for (Py_ssize_t j = 0; j < cols; j++)                      \
                        g[j] = relu_derivative_##SUFFIX(o[j], g[j]);           \
                }                                                              \
                if (i == start)                                                \
                    for (Py_ssize_t j = 0; j < cols; j++) {                    \
                        db[j] = g[j];                                          \
                        dg[j] = g[j] * c[j];                                   \
                    }                                                          \
                else                                                           \
                    for (Py_ssize_t j = 0; j < cols; j++) {                    \
                        db[j] = db[j] + g[j];                                  \
                        dg[j] = dg[j] + g[j] * c[j];                           \
                    }                                                          \
            }                                                                  \
            for (Py_ssize_t j = 0; j < cols; j++) {                            \
                dg[j] = dg[j] * r[j];                                          \
                a[j] = share ? r[j] * dg[j] : r[j] * dg[j] / count;            \
                b[j] = share ? db[j] : db[j] / count;                          \
                s[j] = gamma ? gamma[j] * r[j] : r[j];                         \
            }                                                                  \
            for (Py_ssize_t i = start; i < stop; i++) {                        \
                T *RESTRICT g = grad + i * cols;                               \
                const T *RESTRICT c = centered + i * cols;                     \
                if (share) {                                                   \
                    const T w = share[i];                                      \
                    for (Py_ssize_t j = 0; j < cols; j++)                      \
                        g[j] = (g[j] - (c[j] * a[j] + b[j]) * w) * s[j];       \
                }                                                              \
                else                                                           \
                    for (Py_ssize_t j = 0; j < cols; j++)                      \
                        g[j] = (g[j] - (c[j] * a[j] + b[j])) * s[j];           \
            }                                                                  \
        }                                                                      \
    }

KERNELS(f, float, sqrtf)
KERNELS(d, double, sqrt)

