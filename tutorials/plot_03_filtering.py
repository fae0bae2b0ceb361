"""
Filtering: heat diffusion with Chebyshev polynomials
====================================================

A graph convolution is a filter of the graph Laplacian ``L``: a function ``g`` of its eigenvalues,
``g(L) x = U g(Λ) Uᵀ x``. Computing the eigenvectors ``U`` is out of reach for a million pixels, so
DeepSphere uses polynomial filters, evaluated with a few sparse products. This tutorial diffuses heat on
a HEALPix graph with Chebyshev polynomials, compares it with the exact filter, shows the polynomials'
spectral responses, and shows what the number of terms ``K`` means in space: a filter with ``K`` terms
reaches exactly ``K − 1`` hops.
"""

# %%
# The graph and its exact Fourier basis
# -------------------------------------
# A HEALPix grid of nside 16 (3 072 pixels) is small enough for the dense eigendecomposition, which
# gives the exact filter to compare with. ``λmax`` is the largest eigenvalue (the graph's upper bound,
# :meth:`~deepsphere.graph.SphereGraph.lmax`).

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.sparse.csgraph import shortest_path

from deepsphere.analysis import (
    chebyshev_coefficients,
    chebyshev_filter,
    heat_kernel,
    plot_map,
    spectral_response,
)
from deepsphere.graph import knn_graph
from deepsphere.nn import ChebConv
from deepsphere.sampling import HEALPix

NSIDE = 16
sphere = HEALPix(NSIDE)
graph = knn_graph(sphere, k=8)
laplacian = graph.laplacian()
lmax = graph.lmax()
eigenvalues, basis = graph.fourier_basis()  # dense: L = U Λ Uᵀ
print(f"{graph}; λmax = {lmax:.4f} (largest eigenvalue {eigenvalues[-1]:.4f})")


def exact(function, signal):
    """``U g(Λ) Uᵀ x``: the filter applied through the eigendecomposition."""
    return basis @ (function(eigenvalues) * (basis.T @ signal))


# %%
# Heat diffusion
# --------------
# The heat equation on the graph, ``∂f/∂t = −L f``, is solved by the filter ``g(λ) = exp(−τλ)``: after a
# time τ, each Fourier mode is damped by ``exp(−τλ)``, so high frequencies die first. A point source
# (one pixel set to 1) spreads into a blob whose size grows with τ.

source = hp.ang2pix(NSIDE, 0.0, 0.0, lonlat=True, nest=True)
delta = np.zeros(sphere.npix)
delta[source] = 1.0
TAUS = (2.0, 8.0, 32.0)

fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
for ax, tau in zip(axes, TAUS, strict=True):
    diffused = exact(heat_kernel(tau), delta)
    plot_map(
        diffused,
        sphere,
        view="orthographic",
        rot_deg=(0, 0),
        ax=ax,
        resolution=300,
        title=f"τ = {tau:g}: exp(−τL) applied to a point",
    )

# %%
# Chebyshev approximation
# -----------------------
# With ``L̃ = 2L/λmax − I`` (spectrum mapped onto [−1, 1]) and the Chebyshev polynomials
# ``T_0 = 1, T_1 = y, T_k = 2y T_{k−1} − T_{k−2}``, the filter becomes ``Σ_k c_k T_k(L̃) x``: ``K − 1``
# sparse products, no eigenvectors. :func:`~deepsphere.analysis.chebyshev_coefficients` interpolates
# ``g`` at the Chebyshev nodes; for a smooth ``g`` such as the heat kernel the error falls geometrically
# with ``K``. The error is measured for the point source and for a white-noise map.

rng = np.random.default_rng(0)
noise = rng.standard_normal(sphere.npix)
K_VALUES = np.arange(2, 41, 2)
fig, ax = plt.subplots(figsize=(7, 4.5))
for tau, color in zip(TAUS, ("C0", "C1", "C2"), strict=True):
    for signal, name, style in ((delta, "point", "-o"), (noise, "white noise", "--s")):
        reference = exact(heat_kernel(tau), signal)
        errors = []
        for K in K_VALUES:
            coefficients = chebyshev_coefficients(heat_kernel(tau), int(K), lmax)
            approximation = chebyshev_filter(laplacian, coefficients, signal, lmax)
            errors.append(np.linalg.norm(approximation - reference) / np.linalg.norm(reference))
        ax.semilogy(K_VALUES, errors, style, color=color, ms=3, label=f"τ = {tau:g}, {name}")
    print(f"τ = {tau:g}: relative error {errors[K_VALUES.tolist().index(10)]:.1e} at K = 10")
ax.set(
    xlabel="K (number of Chebyshev terms)",
    ylabel="‖Chebyshev − exact‖ / ‖exact‖",
    title="heat diffusion: error of the Chebyshev filter",
)
ax.grid(alpha=0.3)
ax.legend(fontsize=8)

# %%
# Longer diffusion times need more terms: ``exp(−τλ)`` changes faster in λ when τ is large, and a
# polynomial of degree ``K − 1`` can only follow changes on scales of about ``λmax / (K − 1)``.
#
# Spectral responses
# ------------------
# The response of a polynomial filter is ``p(λ) = Σ_k c_k T_k(2λ/λmax − 1)``
# (:func:`~deepsphere.analysis.spectral_response`): the factor by which it multiplies the Fourier mode
# of eigenvalue λ. The ticks at the bottom are the graph's eigenvalues.

lam = np.linspace(0.0, lmax, 500)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
for ax, tau in zip(axes, (2.0, 8.0), strict=True):
    ax.plot(lam, heat_kernel(tau)(lam), "k", lw=2, label="exp(−τλ)")
    for K in (2, 3, 5, 10):
        ax.plot(
            lam,
            spectral_response(chebyshev_coefficients(heat_kernel(tau), K, lmax), lmax, lam),
            label=f"K = {K}",
        )
    ax.plot(eigenvalues, np.full_like(eigenvalues, -0.05), "|", color="grey", ms=6)
    ax.set(xlabel="eigenvalue λ", ylabel="response", title=f"τ = {tau:g}", ylim=(-0.3, 1.1))
    ax.legend(fontsize=8)

# %%
# What K means in space
# ---------------------
# ``L`` only joins neighbours, so ``L̃ x`` mixes each pixel with its neighbours, and ``T_k(L̃) x`` with
# the pixels up to ``k`` hops away. A filter with ``K`` terms therefore sees exactly the pixels within
# ``K − 1`` hops, whatever its coefficients: its response to a point source is zero beyond. Hops from the
# source are counted along the graph's edges.

hops = shortest_path(graph.weights, unweighted=True, indices=source)
fig, ax = plt.subplots(figsize=(7, 4.2))
for K in (2, 3, 5, 9):
    coefficients = rng.standard_normal(K)  # any filter with K terms
    response = chebyshev_filter(laplacian, coefficients, delta, lmax)
    reach = int(hops[np.abs(response) > 1e-12].max())
    print(
        f"K = {K}: nonzero up to {reach} hops ({np.count_nonzero(hops <= K - 1)} pixels within {K - 1} hops)"
    )
    per_hop = [np.abs(response[hops == h]).max() for h in range(12)]
    ax.semilogy(range(12), np.maximum(per_hop, 1e-18), "-o", ms=3, label=f"K = {K}")
ax.set(
    xlabel="hops from the source",
    ylabel="max |filtered point source|",
    ylim=(1e-18, 2),
    title="a K-term filter reaches K − 1 hops",
)
ax.legend()

# %%
# A ChebConv layer is the same filter
# -----------------------------------
# :class:`~deepsphere.nn.ChebConv` computes ``Σ_k T_k(L̃) x W_k + b``. With one input and one output
# channel, ``W_k = c_k`` and no bias, it is exactly the heat filter above (in float32):

K = 10
coefficients = chebyshev_coefficients(heat_kernel(8.0), K, lmax)
conv = ChebConv(1, 1, K, laplacian, lmax=lmax, bias=False)
with torch.no_grad():
    conv.weight.copy_(torch.tensor(coefficients, dtype=torch.float32).view(K, 1, 1))
    layer = conv(torch.tensor(noise, dtype=torch.float32).view(1, -1, 1)).view(-1).numpy()
reference = chebyshev_filter(laplacian, coefficients, noise, lmax)
print(f"max |ChebConv − chebyshev_filter| = {np.abs(layer - reference).max():.1e}")

# %%
# Training a DeepSphere network learns the coefficients ``W_k`` of such filters, for every pair of
# input and output channels: each layer is a bank of learned, isotropic, ``K − 1``-hop filters.
