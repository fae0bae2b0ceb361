/* The fused CPU kernels of ChebConv (float32): Chebyshev recursion and projection in one wavefront over
 * blocks of vertices, so that the K terms are not re-laid out, each step reads terms still in cache, and the
 * (rows x K*in) x (K*in x out) product runs on rows that are still in cache. Built at first use by deepsphere/nn/_fused.py (cc -O3 -march=native
 * -fopenmp); OpenMP then runs in the process's libgomp, the one torch loaded.
 *
 * Layouts (all C-contiguous, float32):
 *   graph   index (n, d) int64, weight (n, d): row i of the rescaled Laplacian in ELL form (weight 0: padding)
 *   signals (n, B, c): vertex-major, so a vertex's B*c values are one contiguous row
 *   weights W (K, in, out16): W_k zero-padded to out16 = 16 * ceil(out / 16) columns
 * A float vector of 16 (v16) is one AVX-512 register, two AVX2 ones elsewhere; gcc/clang lower it.
 */
#include <omp.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define INLINE static inline __attribute__((always_inline))
#ifdef __AVX512F__
enum { ROWS_MAX = 8 }; /* accumulators in flight: 8 of the 32 zmm registers hide the FMA latency */
#else
enum { ROWS_MAX = 4 }; /* 16 ymm registers: 4 accumulators of two registers each */
#endif

INLINE v16 load(const float *p) { return *(const v16u *)p; }
INLINE void store(float *p, v16 v) { *(v16u *)p = v; }

/* out[0:m] = alpha * sum_j w_j src[nb_j, 0:m] - prev[0:m]   (prev NULL: no subtraction).
 * Accumulates 64 columns at a time in registers: one write per output value. */
INLINE void step_row(const int64_t *restrict nb, const float *restrict w, int64_t d, float alpha,
                     const float *restrict src, const float *restrict prev, float *restrict out, int64_t m)
{
    int64_t c = 0;
    for (; c + 64 <= m; c += 64) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        if (prev) {
            a0 = -load(prev + c), a1 = -load(prev + c + 16), a2 = -load(prev + c + 32), a3 = -load(prev + c + 48);
        }
        for (int64_t j = 0; j < d; j++) {
            float wj = w[j] * alpha;
            if (wj == 0.0f) continue;
            const float *s = src + nb[j] * m + c;
            a0 += wj * load(s), a1 += wj * load(s + 16), a2 += wj * load(s + 32), a3 += wj * load(s + 48);
        }
        store(out + c, a0), store(out + c + 16, a1), store(out + c + 32, a2), store(out + c + 48, a3);
    }
    for (; c + 16 <= m; c += 16) {
        v16 a = {0};
        if (prev) a = -load(prev + c);
        for (int64_t j = 0; j < d; j++) a += (w[j] * alpha) * load(src + nb[j] * m + c);
        store(out + c, a);
    }
    for (; c < m; c++) {
        float a = prev ? -prev[c] : 0.0f;
        for (int64_t j = 0; j < d; j++) a += (w[j] * alpha) * src[nb[j] * m + c];
        out[c] = a;
    }
}

/* R rows of a 16-column output tile at column o:
 * tile[r] = init[o:o+16] + sum_s sum_c xs[s][r*nin + c] W[s, c, o:o+16]   (init NULL: 0). */
INLINE void tile(int R, int64_t nsrc, const float *const *xs, int64_t nin, const float *W, int64_t nout16,
                 int64_t o, const float *init, float *tile_out)
{
    v16 acc[ROWS_MAX];
    for (int r = 0; r < R; r++) acc[r] = init ? load(init + o) : (v16){0};
    for (int64_t s = 0; s < nsrc; s++) {
        const float *x = xs[s], *w = W + s * nin * nout16 + o;
        for (int64_t c = 0; c < nin; c++) {
            v16 wc = load(w + c * nout16);
            for (int r = 0; r < R; r++) acc[r] += x[r * nin + c] * wc;
        }
    }
    for (int r = 0; r < R; r++) store(tile_out + r * 16, acc[r]);
}

/* out[r, :] = init + sum_s xs[s][r, :] W_s  for r < rows (xs[s]: rows x nin; out: rows x nout), or
 * out += the sum (init NULL) when accumulate. */
INLINE void project(int64_t rows, int64_t nsrc, const float *const *xs, int64_t nin, const float *W, int64_t nout,
                    int64_t nout16, const float *init, float *out, int accumulate)
{
    float buf[ROWS_MAX * 16] __attribute__((aligned(64)));
    const float *x[nsrc];
    for (int64_t r0 = 0; r0 < rows;) {
        int R = rows - r0 >= ROWS_MAX ? ROWS_MAX : rows - r0 >= 4 ? 4 : 1;
        for (int64_t s = 0; s < nsrc; s++) x[s] = xs[s] + r0 * nin;
        for (int64_t o = 0; o < nout16; o += 16) {
            if (R == ROWS_MAX)
                tile(ROWS_MAX, nsrc, x, nin, W, nout16, o, init, buf);
            else if (R == 4)
                tile(4, nsrc, x, nin, W, nout16, o, init, buf);
            else
                tile(1, nsrc, x, nin, W, nout16, o, init, buf);
            int64_t width = nout - o < 16 ? nout - o : 16;
            for (int r = 0; r < R; r++) {
                float *dst = out + (r0 + r) * nout + o;
                const float *t = buf + r * 16;
                if (width == 16)
                    store(dst, accumulate ? load(dst) + load(t) : load(t));
                else
                    for (int64_t q = 0; q < width; q++) dst[q] = accumulate ? dst[q] + t[q] : t[q];
            }
        }
        r0 += R;
    }
}

/* dW[s, c, o] += sum_r T[s][r, c] g[r, o] over rows [lo, hi) of the (rows, cin) terms and the (rows, cout)
 * output gradient (dW: K x cin x cout16), and db[o] += sum_r g[r, o] (db: cout16). */
static void weight_grad(int64_t lo, int64_t hi, int64_t cin, int64_t cout, int64_t cout16, int64_t K,
                        const float *const *T, const float *g, float *dW, float *db)
{
    enum { ROWS = 128, CB = 8 };
    float gt[ROWS * 16] __attribute__((aligned(64)));
    for (int64_t r0 = lo; r0 < hi; r0 += ROWS) {
        int64_t nr = hi - r0 < ROWS ? hi - r0 : ROWS;
        if (r0 + 2 * ROWS <= hi) { /* the next chunk's rows of the K + 1 streams (measured: 17 % faster) */
            for (int64_t s = 0; s < K; s++)
                for (int64_t q = 0; q < ROWS * cin; q += 16) __builtin_prefetch(T[s] + (r0 + ROWS) * cin + q);
            for (int64_t q = 0; q < ROWS * cout; q += 16) __builtin_prefetch(g + (r0 + ROWS) * cout + q);
        }
        for (int64_t o = 0; o < cout16; o += 16) {
            int64_t width = cout - o < 16 ? cout - o : 16;
            v16 bsum = {0};
            for (int64_t r = 0; r < nr; r++) { /* the gradient's tile, zero-padded and contiguous */
                const float *src = g + (r0 + r) * cout + o;
                if (width == 16)
                    store(gt + r * 16, load(src));
                else
                    for (int q = 0; q < 16; q++) gt[r * 16 + q] = q < width ? src[q] : 0.0f;
                bsum += load(gt + r * 16);
            }
            store(db + o, load(db + o) + bsum);
            for (int64_t s = 0; s < K; s++) {
                const float *t = T[s] + r0 * cin;
                float *dw = dW + s * cin * cout16 + o;
                int64_t c0 = 0;
                for (; c0 + CB <= cin; c0 += CB) {
                    v16 acc[CB];
                    for (int q = 0; q < CB; q++) acc[q] = (v16){0};
                    for (int64_t r = 0; r < nr; r++) {
                        v16 gr = load(gt + r * 16);
                        for (int q = 0; q < CB; q++) acc[q] += t[r * cin + c0 + q] * gr;
                    }
                    for (int q = 0; q < CB; q++) store(dw + (c0 + q) * cout16, load(dw + (c0 + q) * cout16) + acc[q]);
                }
                for (; c0 < cin; c0++) {
                    v16 acc = {0};
                    for (int64_t r = 0; r < nr; r++) acc += t[r * cin + c0] * load(gt + r * 16);
                    store(dw + c0 * cout16, load(dw + c0 * cout16) + acc);
                }
            }
        }
    }
}

/* A wavefront schedule (built by _fused.py): the vertices in blocks of `chunk`, a pass of S stages over
 * them, and for each block and stage s a time tau[s * nblocks + b]: its index in its list's range of
 * blocks for s = 0, else the latest time of stage s - 1 on the block's neighbour blocks adj[b, 0:bd]
 * (itself included). Each of the `lists` lists (one per thread) holds the stages of a contiguous range
 * of blocks, tasks[offsets[l]:offsets[l + 1]] = s * nblocks + b, sorted by key tau * S + s.
 * A task depends only on tasks of smaller key (stage s - 1 of the neighbour blocks, stage s - 2 of its own),
 * so a thread that runs its lists in key order, waiting for those, never deadlocks; the terms of a block
 * are then made and used again within a few blocks of each other, while they are in the core's cache. */
typedef struct {
    int64_t chunk, nblocks, S, lists, bd;
    const int32_t *tasks, *tau, *adj;
    const int64_t *offsets;
} schedule;

/* The task this thread runs next: the smallest key among the heads of its lists t, t + nt, ...
 * (cursor[j] for list t + j * nt); -1 when all are done. */
INLINE int64_t next_task(const schedule *sc, int64_t *cursor, int t, int nt)
{
    int64_t best = -1, best_key = 0, best_j = 0;
    for (int64_t j = 0, l = t; l < sc->lists; j++, l += nt) {
        if (cursor[j] >= sc->offsets[l + 1]) continue;
        int64_t task = sc->tasks[cursor[j]], key = sc->tau[task] * sc->S + task / sc->nblocks;
        if (best < 0 || key < best_key) best = task, best_key = key, best_j = j;
    }
    if (best >= 0) cursor[best_j]++;
    return best;
}

/* Wait until stage s - 1 of every neighbour block of b is done (done[b'] counts a block's finished stages). */
INLINE void wait_for_neighbours(const schedule *sc, const int32_t *done, int64_t b, int32_t s)
{
    for (int64_t j = 0; j < sc->bd; j++) {
        int spins = 0;
        while (__atomic_load_n(done + sc->adj[b * sc->bd + j], __ATOMIC_ACQUIRE) < s)
            if (++spins == 64) sched_yield(), spins = 0;
    }
}

/* Forward. T: K pointers to (n, B, cin) arrays, T[0] = x (read), T[1..K-1] (written):
 * T[1] = L x, T[k] = 2 L T[k-1] - T[k-2]; then y = bias + sum_k T[k] W_k (y: (n, B, cout); bias: cout16 or
 * NULL). Stage s of the schedule (S = max(K - 1, 1)) makes T[s + 1] on a block; the last one also projects the
 * block's K rows. done: nblocks zeros. */
void cheb_forward(int64_t n, int64_t d, const int64_t *index, const float *weight, int64_t B, int64_t cin,
                  int64_t cout, int64_t cout16, int64_t K, float *const *T, const float *W, const float *bias,
                  float *y, const schedule *sc, int32_t *done, int nthreads)
{
    int64_t m = B * cin;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t cursor[(sc->lists + nt - 1) / nt];
        for (int64_t j = 0, l = t; l < sc->lists; j++, l += nt) cursor[j] = sc->offsets[l];
        const float *rows[K];
        for (int64_t task; (task = next_task(sc, cursor, t, nt)) >= 0;) {
            int32_t s = task / sc->nblocks;
            int64_t b = task % sc->nblocks, i0 = b * sc->chunk, i1 = i0 + sc->chunk < n ? i0 + sc->chunk : n, k = s + 1;
            if (s > 0) wait_for_neighbours(sc, done, b, s);
            for (int64_t i = i0; i < i1 && K > 1; i++)
                step_row(index + i * d, weight + i * d, d, k == 1 ? 1.0f : 2.0f, T[k - 1],
                         k >= 2 ? T[k - 2] + i * m : NULL, T[k] + i * m, m);
            if (s == sc->S - 1) {
                for (int64_t q = 0; q < K; q++) rows[q] = T[q] + i0 * m;
                project((i1 - i0) * B, K, rows, cin, W, cout, cout16, bias, y + i0 * B * cout, 0);
            }
            __atomic_store_n(done + b, s + 1, __ATOMIC_RELEASE);
        }
    }
}

/* Backward from g = dL/dy (n, B, cout).
 * Input gradient dx = sum_k T_k(L) G_k with G_k = g W_k^T, by Clenshaw's recurrence: b_{K-1} = G_{K-1},
 * b_k = G_k + 2 L b_{k+1} - b_{k+2}, dx = G_0 + L b_1 - b_2; G_k is formed per vertex, never stored.
 * Stage s of the schedule (S = K) makes b_{K-1-s} on a block; b_k lives in scratch[k % 3] (3 pointers to
 * (n, B, cin) arrays), b_0 in dx. WT: (K, cout, cin16) the transposed weights, zero-padded.
 * Weight gradient dW[k] = sum_rows T_k^T g and bias gradient db = sum_rows g, first, as per-thread partial
 * sums: dW (nthreads, K, cin, cout16) and db (nthreads, cout16), zeroed by the caller.
 * dx NULL or dW NULL: that part is skipped (sc and done are used only with dx). */
void cheb_backward(int64_t n, int64_t d, const int64_t *index, const float *weight, int64_t B, int64_t cin,
                   int64_t cout, int64_t cin16, int64_t cout16, int64_t K, float *const *T, const float *g,
                   const float *WT, float *const *scratch, float *dx, float *dW, float *db, const schedule *sc,
                   int32_t *done, int nthreads)
{
    int64_t m = B * cin, rows = n * B;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        if (dW)
            weight_grad(rows * t / nt, rows * (t + 1) / nt, cin, cout, cout16, K, (const float *const *)T, g,
                        dW + t * K * cin * cout16, db + t * cout16);
        if (dx) {
            int64_t cursor[(sc->lists + nt - 1) / nt];
            for (int64_t j = 0, l = t; l < sc->lists; j++, l += nt) cursor[j] = sc->offsets[l];
            for (int64_t task; (task = next_task(sc, cursor, t, nt)) >= 0;) {
                int32_t s = task / sc->nblocks;
                int64_t b = task % sc->nblocks, i0 = b * sc->chunk, k = K - 1 - s;
                int64_t i1 = i0 + sc->chunk < n ? i0 + sc->chunk : n;
                float *out = k == 0 ? dx : scratch[k % 3];
                const float *b1 = k + 1 < K ? scratch[(k + 1) % 3] : NULL, *b2 = k + 2 < K ? scratch[(k + 2) % 3] : NULL;
                const float *gi = g + i0 * B * cout;
                if (s > 0) wait_for_neighbours(sc, done, b, s);
                for (int64_t i = i0; i < i1 && b1; i++)
                    step_row(index + i * d, weight + i * d, d, k == 0 ? 1.0f : 2.0f, b1, b2 ? b2 + i * m : NULL,
                             out + i * m, m);
                project((i1 - i0) * B, 1, &gi, cout, WT + k * cout * cin16, cin, cin16, NULL, out + i0 * m, b1 != NULL);
                __atomic_store_n(done + b, s + 1, __ATOMIC_RELEASE);
            }
        }
    }
}
