/* The fused CPU kernels of ChebConv (float32): Chebyshev recursion and projection in one wavefront over
 * blocks of vertices, so that the K terms are not re-laid out, each step reads terms still in cache, and the
 * (rows x K*in) x (K*in x out) product runs on rows that are still in cache; and, at the end, batch
 * normalisation (+ ReLU) in two passes forward and two backward (see that section). Built at first use by
 * deepsphere/nn/_fused.py (cc -O3 -march=native -fopenmp); OpenMP then runs in the process's libgomp, the
 * one torch loaded.
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
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* R rows of a 16-column output tile at column o, in place:
 * t[r] += sum_s sum_c xs[s][r*nin + c] W[s, c, o:o+16]   (t: R x 16).
 * Each row has a pointer of its own (the empty asm keeps it one), so that the broadcast operand is
 * base + displacement: with the row offset r * nin as an index register, Intel cores split each FMA in
 * two micro-ops. */
INLINE void tile(int R, int64_t nsrc, const float *const *xs, int64_t nin, const float *W, int64_t nout16,
                 int64_t o, float *t)
{
    v16 acc[ROWS_MAX];
    for (int r = 0; r < R; r++) acc[r] = load(t + r * 16);
    for (int64_t s = 0; s < nsrc; s++) {
        const float *w = W + s * nin * nout16 + o, *x[ROWS_MAX];
        for (int r = 0; r < R; r++) x[r] = xs[s] + r * nin;
        int64_t c = 0;
        for (; c + 4 <= nin; c += 4) {
            v16 w0 = load(w + c * nout16), w1 = load(w + (c + 1) * nout16);
            v16 w2 = load(w + (c + 2) * nout16), w3 = load(w + (c + 3) * nout16);
            for (int r = 0; r < R; r++) {
                acc[r] += x[r][0] * w0, acc[r] += x[r][1] * w1, acc[r] += x[r][2] * w2, acc[r] += x[r][3] * w3;
                x[r] += 4;
                __asm__("" : "+r"(x[r]));
            }
        }
        for (; c < nin; c++) {
            v16 wc = load(w + c * nout16);
            for (int r = 0; r < R; r++) acc[r] += *x[r]++ * wc;
        }
    }
    for (int r = 0; r < R; r++) store(t + r * 16, acc[r]);
}

/* out[r, :] = start + sum_s xs[s][r, :] W_s  for r < rows (xs[s]: rows x nin; out: rows x nout), where start is
 * out[r, :] itself when accumulate, else bias (NULL: 0). The sum runs in the order of s and c from start,
 * so projecting the terms in several calls gives the same floats as in one. */
INLINE void project(int64_t rows, int64_t nsrc, const float *const *xs, int64_t nin, const float *W, int64_t nout,
                    int64_t nout16, const float *bias, float *out, int accumulate)
{
    float t[ROWS_MAX * 16] __attribute__((aligned(64)));
    const float *x[nsrc];
    for (int64_t r0 = 0; r0 < rows;) {
        int R = rows - r0 >= ROWS_MAX ? ROWS_MAX : rows - r0 >= 4 ? 4 : 1;
        for (int64_t s = 0; s < nsrc; s++) x[s] = xs[s] + r0 * nin;
        for (int64_t o = 0; o < nout16; o += 16) {
            int64_t width = nout - o < 16 ? nout - o : 16;
            for (int r = 0; r < R; r++) {
                const float *start = accumulate ? out + (r0 + r) * nout + o : bias ? bias + o : NULL;
                if (start && (width == 16 || !accumulate)) /* a whole vector: bias is padded to nout16 */
                    store(t + r * 16, load(start));
                else
                    for (int64_t q = 0; q < 16; q++) t[r * 16 + q] = start && q < width ? start[q] : 0.0f;
            }
            if (R == ROWS_MAX)
                tile(ROWS_MAX, nsrc, x, nin, W, nout16, o, t);
            else if (R == 4)
                tile(4, nsrc, x, nin, W, nout16, o, t);
            else
                tile(1, nsrc, x, nin, W, nout16, o, t);
            for (int r = 0; r < R; r++) {
                float *dst = out + (r0 + r) * nout + o;
                if (width == 16)
                    store(dst, load(t + r * 16));
                else
                    for (int64_t q = 0; q < width; q++) dst[q] = t[r * 16 + q];
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

/* A wavefront schedule: the vertices in blocks of `chunk`, a pass of S stages over them (stage s of block b
 * is task s * nblocks + b; it reads stage s - 1 of the neighbour blocks adj[b, 0:bd], the block itself
 * included), and `lists` lists, one per thread, each the stages of a contiguous range of blocks in the
 * order tasks[offsets[l]:offsets[l + 1]], made by cheb_schedule below; tick[task] is when the task runs
 * in that simulation. A task's inputs have smaller ticks, so threads that run their lists in tick order,
 * waiting for those inputs, never deadlock. The stages go in waves of `segment` (the simulation's
 * priorities restart with each wave); the forward projects a block's terms at the end of each wave. */
typedef struct {
    int64_t chunk, nblocks, S, segment, lists, bd;
    const int32_t *tasks, *tick, *adj;
    const int64_t *offsets;
} schedule;

/* A binary min-heap of tasks ordered by prio[task]. */
typedef struct {
    int32_t *a;
    int64_t n;
} heap;

static void heap_push(heap *h, const int64_t *prio, int32_t task)
{
    int64_t i = h->n++;
    for (; i > 0 && prio[h->a[(i - 1) / 2]] > prio[task]; i = (i - 1) / 2) h->a[i] = h->a[(i - 1) / 2];
    h->a[i] = task;
}

static int32_t heap_pop(heap *h, const int64_t *prio)
{
    int32_t top = h->a[0], last = h->a[--h->n];
    int64_t i = 0;
    for (int64_t c; (c = 2 * i + 1) < h->n; i = c) {
        if (c + 1 < h->n && prio[h->a[c + 1]] < prio[h->a[c]]) c++;
        if (prio[h->a[c]] >= prio[last]) break;
        h->a[i] = h->a[c];
    }
    h->a[i] = last;
    return top;
}

/* Whether block c's next stage can run in the simulation: not queued, not past the last stage, and its
 * neighbour blocks done with the stage before. */
static int ready_in_simulation(int64_t c, const int32_t *done, const int32_t *queued, const int32_t *adj,
                               int64_t bd, int64_t S)
{
    int32_t s = done[c];
    if (queued[c] || s >= S) return 0;
    for (int64_t q = 0; q < bd; q++)
        if (done[adj[c * bd + q]] < s) return 0;
    return 1;
}

/* Orders the tasks by simulating `lists` threads that each run one task per tick: the ready task (its
 * neighbour blocks done with stage s - 1 in an earlier tick) of smallest prio among those of its blocks
 * [bounds[l], bounds[l + 1]). Writes tasks (list l's at offsets bounds[l] * S on) and tick (per task).
 * Returns 0, -1 if memory ran out, -2 if the tasks cannot all run. */
int cheb_schedule(int64_t nblocks, int64_t S, int64_t lists, const int64_t *bounds, const int32_t *adj, int64_t bd,
                  const int64_t *prio, int32_t *tasks, int32_t *tick)
{
    int32_t *done = calloc(nblocks, sizeof *done), *queued = calloc(nblocks, sizeof *queued);
    int32_t *owner = malloc(nblocks * sizeof *owner), *slots = malloc(nblocks * sizeof *slots);
    int32_t *finished = malloc(lists * sizeof *finished);
    heap *heaps = malloc(lists * sizeof *heaps);
    int64_t *pos = malloc(lists * sizeof *pos);
    int status = done && queued && owner && slots && finished && heaps && pos ? 0 : -1;
    for (int64_t l = 0; l < lists && !status; l++) {
        heaps[l] = (heap){slots + bounds[l], 0};
        pos[l] = bounds[l] * S;
        for (int64_t b = bounds[l]; b < bounds[l + 1]; b++) owner[b] = l, queued[b] = 1, heap_push(heaps + l, prio, b);
    }
    for (int64_t left = status ? 0 : S * nblocks, t = 0; left > 0; t++) {
        int64_t nf = 0;
        for (int64_t l = 0; l < lists; l++)
            if (heaps[l].n) {
                int32_t task = heap_pop(heaps + l, prio);
                tasks[pos[l]++] = task, tick[task] = t, finished[nf++] = task;
            }
        for (int64_t f = 0; f < nf; f++) done[finished[f] % nblocks]++, queued[finished[f] % nblocks] = 0;
        for (int64_t f = 0; f < nf; f++) /* blocks that may have become ready: the finished ones' neighbours */
            for (int64_t j = 0; j < bd; j++) {
                int32_t c = adj[finished[f] % nblocks * bd + j];
                if (ready_in_simulation(c, done, queued, adj, bd, S))
                    queued[c] = 1, heap_push(heaps + owner[c], prio, done[c] * nblocks + c);
            }
        if (nf == 0) /* nothing ran: only if adj were not symmetric (b next to c, c not next to b); rescan */
            for (int64_t c = 0; c < nblocks; c++)
                if (ready_in_simulation(c, done, queued, adj, bd, S))
                    queued[c] = 1, heap_push(heaps + owner[c], prio, done[c] * nblocks + c), nf = -1;
        if (nf == 0) status = -2, left = 0; /* and nothing can run: a task reads a later stage (a bug) */
        left -= nf > 0 ? nf : 0;
    }
    free(done), free(queued), free(owner), free(slots), free(finished), free(heaps), free(pos);
    return status;
}

/* Whether stage s - 1 of every neighbour block of b is done (done[b'] counts a block's finished stages). */
INLINE int inputs_ready(const schedule *sc, const int32_t *done, int64_t b, int32_t s)
{
    for (int64_t j = 0; j < sc->bd; j++)
        if (__atomic_load_n(done + sc->adj[b * sc->bd + j], __ATOMIC_ACQUIRE) < s) return 0;
    return 1;
}

/* This thread's cursors at the heads of its lists t, t + nt, ... (see next_task). */
INLINE void start_cursors(const schedule *sc, int64_t *cursor, int t, int nt)
{
    for (int64_t j = 0, l = t; l < sc->lists; j++, l += nt) cursor[j] = sc->offsets[l];
}

/* The next task this thread runs, its inputs done; -1 when its lists are done.
 * One list per thread (the usual case): the list's first task not yet run, or if its inputs are late (a
 * thread that ran slower), the first ready one among the next LOOKAHEAD; it waits only when none is.
 * Fewer threads than lists (OpenMP may give fewer than asked): thread t runs lists t, t + nt, ... merged
 * in tick order, waiting for each task's inputs (cursor[j]: the position in list t + j * nt). */
INLINE int64_t next_task(const schedule *sc, const int32_t *done, int64_t *cursor, int t, int nt)
{
    enum { LOOKAHEAD = 64 };
    int64_t nb = sc->nblocks;
    if (nt == sc->lists) {
        for (int64_t end = sc->offsets[t + 1], spins = 0;; spins++) {
            while (cursor[0] < end && done[sc->tasks[cursor[0]] % nb] > sc->tasks[cursor[0]] / nb) cursor[0]++;
            for (int64_t q = cursor[0]; q < end && q < cursor[0] + LOOKAHEAD; q++) {
                int64_t task = sc->tasks[q], b = task % nb;
                int32_t s = task / nb;
                if (done[b] == s && inputs_ready(sc, done, b, s)) return task; /* not run, its inputs done */
            }
            if (cursor[0] == end) return -1;
            if (spins % 64 == 63) sched_yield();
        }
    }
    int64_t best = -1, best_j = 0;
    for (int64_t j = 0, l = t; l < sc->lists; j++, l += nt) {
        if (cursor[j] >= sc->offsets[l + 1]) continue;
        int64_t task = sc->tasks[cursor[j]];
        if (best < 0 || sc->tick[task] < sc->tick[best]) best = task, best_j = j;
    }
    if (best < 0) return -1;
    cursor[best_j]++;
    for (int64_t spins = 1; !inputs_ready(sc, done, best % nb, best / nb); spins++)
        if (spins % 64 == 0) sched_yield();
    return best;
}

/* Forward. T: K pointers to (n, B, cin) arrays, T[0] = x (read), T[1..K-1] (written):
 * T[1] = L x, T[k] = 2 L T[k-1] - T[k-2]; then y = bias + sum_k T[k] W_k (y: (n, B, cout); bias: cout16 or
 * NULL). Stage s of the schedule (S = max(K - 1, 1)) makes T[s + 1] on a block; the last stage of each wave
 * also projects the wave's rows of the block (T[0] with the first wave), while they are in cache. So a term
 * is read for the last time one wave after it is made, and T[1..K-1] may be a ring of max(3, segment)
 * buffers (T[k] = T[k - ring]) when the terms need not be kept. done: nblocks zeros. */
void cheb_forward(int64_t n, int64_t d, const int64_t *index, const float *weight, int64_t B, int64_t cin,
                  int64_t cout, int64_t cout16, int64_t K, float *const *T, const float *W, const float *bias,
                  float *y, const schedule *sc, int32_t *done, int nthreads)
{
    int64_t m = B * cin;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t cursor[(sc->lists + nt - 1) / nt];
        start_cursors(sc, cursor, t, nt);
        const float *rows[K];
        for (int64_t task; (task = next_task(sc, done, cursor, t, nt)) >= 0;) {
            int32_t s = task / sc->nblocks;
            int64_t b = task % sc->nblocks, i0 = b * sc->chunk, i1 = i0 + sc->chunk < n ? i0 + sc->chunk : n, k = s + 1;
            for (int64_t i = i0; i < i1 && K > 1; i++)
                step_row(index + i * d, weight + i * d, d, k == 1 ? 1.0f : 2.0f, T[k - 1],
                         k >= 2 ? T[k - 2] + i * m : NULL, T[k] + i * m, m);
            if (s % sc->segment == sc->segment - 1 || s == sc->S - 1) { /* the wave's terms, while hot */
                int64_t first = s < sc->segment ? 0 : s - s % sc->segment + 1, last = K > 1 ? s + 1 : 0;
                for (int64_t q = first; q <= last; q++) rows[q - first] = T[q] + i0 * m;
                project((i1 - i0) * B, last - first + 1, rows, cin, W + first * cin * cout16, cout, cout16, bias,
                        y + i0 * B * cout, first > 0);
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
            start_cursors(sc, cursor, t, nt);
            for (int64_t task; (task = next_task(sc, done, cursor, t, nt)) >= 0;) {
                int32_t s = task / sc->nblocks;
                int64_t b = task % sc->nblocks, i0 = b * sc->chunk, k = K - 1 - s;
                int64_t i1 = i0 + sc->chunk < n ? i0 + sc->chunk : n;
                float *out = k == 0 ? dx : scratch[k % 3];
                const float *b1 = k + 1 < K ? scratch[(k + 1) % 3] : NULL;
                const float *b2 = k + 2 < K ? scratch[(k + 2) % 3] : NULL;
                const float *gi = g + i0 * B * cout;
                for (int64_t i = i0; i < i1 && b1; i++)
                    step_row(index + i * d, weight + i * d, d, k == 0 ? 1.0f : 2.0f, b1, b2 ? b2 + i * m : NULL,
                             out + i * m, m);
                project((i1 - i0) * B, 1, &gi, cout, WT + k * cout * cin16, cin, cin16, NULL, out + i0 * m, b1 != NULL);
                __atomic_store_n(done + b, s + 1, __ATOMIC_RELEASE);
            }
        }
    }
}

/* ---- Batch normalisation over the rows of (n, c) float32 arrays, optionally followed by ReLU ----
 * Statistics per channel over all n rows. Each thread sums its rows in double (a float's square is exact
 * in double, so E[x^2] - E[x]^2 loses ~1e-16 (mean/std)^2, not float's 1e-7 (mean/std)^2); one thread
 * then adds the partial sums and forms the per-channel coefficients; all threads apply them. gamma, beta
 * NULL: 1 and 0. Both return 0, or -1 if memory ran out. */

/* g where keep, else +0: ReLU's gradient, as a bit mask (exact for any g, NaN included); gcc vectorises
 * this loop body, not the equivalent `keep ? g : 0` (measured 12x slower). */
INLINE float keep_if(float g, int keep)
{
    uint32_t bits;
    memcpy(&bits, &g, sizeof bits);
    bits &= keep ? ~0u : 0u;
    memcpy(&g, &bits, sizeof g);
    return g;
}

/* Channel j's two sums over the nt threads' partial sums part (nthreads, 2, c), in thread order. */
INLINE void thread_totals(const double *part, int64_t c, int nt, int64_t j, double *first, double *second)
{
    *first = *second = 0.0;
    for (int u = 0; u < nt; u++) *first += part[2 * c * u + j], *second += part[2 * c * u + c + j];
}

/* y = (x - mean) gamma / sqrt(var + eps) + beta, then max(y, 0) if relu, with the batch's mean and biased
 * variance; writes mean and invstd = 1 / sqrt(var + eps) (double, for the backward) and var (float). */
int bn_forward(int64_t n, int64_t c, const float *x, const float *gamma, const float *beta, double eps, int relu,
               float *y, double *mean, double *invstd, float *var, int nthreads)
{
    double *part = malloc(sizeof *part * 2 * c * nthreads); /* per thread: sum x, sum x^2 */
    float *m = malloc(sizeof *m * 3 * c), *scale = m + c, *shift = m + 2 * c;
    if (!part || !m) return free(part), free(m), -1;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        double sl[c], ql[c]; /* local sums: the compiler knows no store to them changes x */
        for (int64_t j = 0; j < c; j++) sl[j] = ql[j] = 0.0;
        for (int64_t r = n * t / nt; r < n * (t + 1) / nt; r++)
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                double v = x[r * c + j];
                sl[j] += v, ql[j] += v * v;
            }
        memcpy(part + 2 * c * t, sl, sizeof sl), memcpy(part + 2 * c * t + c, ql, sizeof ql);
#pragma omp barrier
#pragma omp single
        for (int64_t j = 0; j < c; j++) {
            double sum, squares;
            thread_totals(part, c, nt, j, &sum, &squares);
            double mu = sum / n, v = squares / n - mu * mu;
            v = v > 0.0 ? v : 0.0;
            mean[j] = mu, var[j] = (float)v, invstd[j] = 1.0 / sqrt(v + eps);
            m[j] = (float)mu, scale[j] = (float)(invstd[j] * (gamma ? gamma[j] : 1.0f));
            shift[j] = beta ? beta[j] : 0.0f;
        } /* implicit barrier */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n; r++)
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                float v = (x[r * c + j] - m[j]) * scale[j] + shift[j];
                y[r * c + j] = relu && v < 0.0f ? 0.0f : v;
            }
    }
    free(part), free(m);
    return 0;
}

/* From dy and the forward's x, y (read even without relu: never NULL), mean and invstd, with g = dy zeroed
 * where relu and y <= 0 and xhat = (x - mean) invstd: dbeta = sum g, dgamma = sum g xhat (each NULL: not
 * wanted) and dx = gamma invstd (g - dbeta / n - xhat dgamma / n) (dx NULL: not wanted). */
int bn_backward(int64_t n, int64_t c, const float *dy, const float *y, const float *x, int relu, const float *gamma,
                const double *mean, const double *invstd, float *dx, float *dgamma, float *dbeta, int nthreads)
{
    double *part = malloc(sizeof *part * 2 * c * nthreads); /* per thread: sum g, sum g (x - mean) */
    float *m = malloc(sizeof *m * 4 * c), *p = m + c, *u = m + 2 * c, *v = m + 3 * c;
    if (!part || !m) return free(part), free(m), -1;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        double sl[c], ql[c], ml[c];
        for (int64_t j = 0; j < c; j++) sl[j] = ql[j] = 0.0, ml[j] = mean[j];
        for (int64_t r = n * t / nt; r < n * (t + 1) / nt; r++)
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                double g = keep_if(dy[r * c + j], !relu | (y[r * c + j] > 0.0f));
                sl[j] += g, ql[j] += g * (x[r * c + j] - ml[j]);
            }
        memcpy(part + 2 * c * t, sl, sizeof sl), memcpy(part + 2 * c * t + c, ql, sizeof ql);
#pragma omp barrier
#pragma omp single
        for (int64_t j = 0; j < c; j++) {
            double sum_g, sum_gx;
            thread_totals(part, c, nt, j, &sum_g, &sum_gx);
            double sum_g_xhat = sum_gx * invstd[j], pj = (gamma ? gamma[j] : 1.0) * invstd[j];
            if (dbeta) dbeta[j] = (float)sum_g;
            if (dgamma) dgamma[j] = (float)sum_g_xhat;
            m[j] = (float)mean[j], p[j] = (float)pj;
            u[j] = (float)(-pj * invstd[j] * sum_g_xhat / n), v[j] = (float)(-pj * sum_g / n);
        } /* implicit barrier */
        if (dx) {
#pragma omp for schedule(static)
            for (int64_t r = 0; r < n; r++)
#pragma omp simd
                for (int64_t j = 0; j < c; j++) {
                    float g = keep_if(dy[r * c + j], !relu | (y[r * c + j] > 0.0f));
                    dx[r * c + j] = g * p[j] + (x[r * c + j] - m[j]) * u[j] + v[j];
                }
        }
    }
    free(part), free(m);
    return 0;
}
