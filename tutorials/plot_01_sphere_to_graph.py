"""
From a sampled sphere to a graph
================================

DeepSphere sees a sampled sphere as a graph: the pixels are the vertices, each pixel is joined to its
nearest neighbours, and the edge weights fall with distance. This tutorial builds such graphs for
several samplings, looks at the neighbours and the weights, and compares the graph's Fourier modes (the
eigenvectors of its Laplacian) with the spherical harmonics, the Fourier modes of the sphere itself.
"""

# %%
# Samplings side by side
# ----------------------
# Six ways to put about 800 pixels on the sphere. The colour is each pixel's area relative to the
# mean: HEALPix pixels all have the same area; the latitude–longitude grids (equiangular and
# Gauss–Legendre) crowd their pixels towards the poles; the icosahedral and cubed-sphere grids are
# nearly uniform; random points are not at all. Each image cell shows the value of the nearest pixel,
# so the images also show the pixels' shapes.

import matplotlib.pyplot as plt
import numpy as np
from scipy.sparse.csgraph import connected_components

from deepsphere.analysis import (
    degree_eigenvalues,
    graph_spectrum,
    plot_graph,
    plot_map,
    real_spherical_harmonics,
    subspace_alignment,
)
from deepsphere.graph import knn_graph
from deepsphere.sampling import CubedSphere, Equiangular, GaussLegendre, HEALPix, Icosahedral, PointCloud

rng = np.random.default_rng(0)
random_points = rng.standard_normal((768, 3))
samplings = {
    "HEALPix nside 8": HEALPix(8),
    "equiangular (SOFT) 28 × 28": Equiangular(28, 28, kind="soft"),
    "Gauss–Legendre 20 × 40": GaussLegendre(20, 40),
    "icosahedral level 3": Icosahedral(3),
    "cubed sphere n = 11": CubedSphere(11),
    "768 random points": PointCloud.from_coords(random_points),
}
fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
for ax, (name, sampling) in zip(axes.flat, samplings.items(), strict=True):
    relative_area = sampling.area / sampling.area.mean()
    plot_map(
        relative_area,
        sampling,
        view="orthographic",
        rot_deg=(20, 30),
        ax=ax,
        vmin=0,
        vmax=2,
        resolution=300,
        title=f"{name}: {sampling.npix} pixels",
    )
    print(
        f"{name:28s} npix {sampling.npix:4d}, area max/min {relative_area.max() / relative_area.min():8.2f}"
    )

# %%
# Neighbours and weights
# ----------------------
# :func:`~deepsphere.graph.knn_graph` joins every pixel to its ``k`` nearest pixels and weighs the edge
# of chord length ``d`` by ``w = exp(−ln 2 · d² / σ²)``: the weight is 1/2 at the kernel width σ. The
# default σ carries the widths that the DeepSphere ICLR paper found best for HEALPix to any sampling by
# its pixel spacing (0.1 at nside 8 and k = 8, four times the paper's 0.025 at nside 32). A vertex
# keeps an edge when either end chose it, so some vertices have more than ``k`` neighbours.

healpix = HEALPix(8)
graph = knn_graph(healpix, k=8)
print(graph)
weights = graph.weights.tocoo()
print(f"neighbours per vertex: {np.bincount(np.bincount(weights.row)).nonzero()[0].tolist()}")
row = graph.weights[100]
print(f"pixel 100: {row.nnz} neighbours, weights {np.sort(row.data)[::-1].round(3)}")
lengths = np.linalg.norm(healpix.coords[weights.row] - healpix.coords[weights.col], axis=1)

fig = plt.figure(figsize=(12, 5))
ax = fig.add_subplot(1, 2, 1)
plot_graph(graph, view="orthographic", rot_deg=(45, 30), ax=ax)
ax.set_title(f"k = 8 graph of HEALPix nside 8 ({graph.n_edges} edges)")
ax = fig.add_subplot(1, 2, 2)
d = np.linspace(0, 3, 200)
ax.plot(d, np.exp(-np.log(2) * d**2), color="k", lw=1, label="w = exp(−ln 2 · d² / σ²)")
ax.plot(lengths / graph.kernel_width, weights.data, "o", ms=3, label="the graph's edges")
ax.axvline(1, color="grey", ls=":")
ax.set(xlabel="chord distance d / kernel width σ", ylabel="weight", title="edge weights")
ax.legend()

# %%
# On a latitude–longitude grid the pixels of a ring near the pole are much closer to each other than
# to the next ring: at high enough resolution the 8 nearest neighbours of a polar pixel are all in its
# own ring or the next, and the k-NN graph falls apart into pieces. Counting connected components at
# about 3 000 pixels:

for sampling in (HEALPix(16), Equiangular(56, 56, kind="soft"), GaussLegendre(40, 80), Icosahedral(4)):
    parts = [connected_components(knn_graph(sampling, k=k).weights, directed=False)[0] for k in (8, 20)]
    print(f"{sampling!r:45s} connected components: {parts[0]} (k = 8), {parts[1]} (k = 20)")

# %%
# Graph Fourier modes against spherical harmonics
# -----------------------------------------------
# The Laplacian ``L = D − W`` has orthonormal eigenvectors, the graph's Fourier modes, sorted by their
# eigenvalues (frequencies). On the sphere, the Laplace–Beltrami operator's eigenfunctions are the
# spherical harmonics, with eigenvalue ℓ(ℓ+1) shared by the 2ℓ + 1 harmonics of degree ℓ. For a good
# graph, the eigenvalues come in groups of 1, 3, 5, 7, … with ratios close to 2 : 6 : 12 : 20, and each
# group of modes spans nearly the same space as the harmonics of one degree. The first 16 modes of the
# HEALPix nside 8 graph:

LMAX = 6
small = HEALPix(8)
small_graph = knn_graph(small, k=8)
eigenvalues, modes = graph_spectrum(small_graph, (LMAX + 1) ** 2)

fig, axes = plt.subplots(4, 4, figsize=(12, 7))
for i, ax in enumerate(axes.flat):
    ell, limit = int(np.sqrt(i)), np.abs(modes[:, i]).max()
    plot_map(
        modes[:, i],
        small,
        ax=ax,
        colorbar=False,
        resolution=240,
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        title=f"mode {i}: λ = {eigenvalues[i]:.3f} (group ℓ = {ell})",
    )
    ax.title.set_fontsize(8)

# %%
# The eigenvalues per group, scaled so that ℓ = 1 gives 2, against ℓ(ℓ + 1); and the alignment
# ``A[ℓ, ℓ']``: the mean squared cosine of the angles between the span of group ℓ and the span of the
# degree-ℓ' harmonics (1: the same space). A perfect graph gives ℓ(ℓ + 1) and the identity.

harmonics = real_spherical_harmonics(small, LMAX)
alignment = subspace_alignment(modes, harmonics, LMAX, area=small.area)
scaled = degree_eigenvalues(eigenvalues, LMAX)
ells = np.arange(LMAX + 1)
for ell in ells:
    print(
        f"ℓ = {ell}: scaled eigenvalue {max(scaled[ell], 0.0):6.2f} (sphere {ell * (ell + 1):3d}), "
        f"alignment with degree ℓ {alignment[ell, ell]:.3f}"
    )

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
left.plot(np.arange(len(eigenvalues)), eigenvalues * 2 / np.mean(eigenvalues[1:4]), ".", label="graph")
left.step(
    np.arange((LMAX + 1) ** 2),
    np.repeat(ells * (ells + 1), 2 * ells + 1),
    where="mid",
    label="sphere: ℓ(ℓ+1)",
)
left.set(xlabel="eigenvalue index", ylabel="eigenvalue (ℓ = 1 scaled to 2)", title="spectrum")
left.legend()
image = right.imshow(alignment, vmin=0, vmax=1, cmap="magma")
right.set(xlabel="harmonic degree ℓ'", ylabel="group of graph modes ℓ", title="subspace alignment")
fig.colorbar(image, ax=right)

# %%
# The HEALPix graph reproduces the sphere's spectrum within 6 % up to ℓ = 6 with 768 pixels,
# and each group of modes lies almost entirely in the span of one degree of harmonics: filtering with
# this graph's Laplacian treats all orientations nearly alike, which is what makes the convolutions of
# DeepSphere nearly rotation-equivariant.
