"""
Partial skies and irregular pooling
===================================

Real surveys see part of the sky: a galaxy survey covers a footprint, a ground telescope a band of
declination, a weather network the land. DeepSphere handles this without padding: a *partial sky* is a
sampling that keeps only some pixels (``indices=``), its graph has only those pixels as vertices, and
its hierarchy keeps every coarse pixel that has at least one kept child. This tutorial builds such a
sky, looks at its graph and its pooling, and then measures how *irregular* the pooling of different
samplings is: how far the pooled value's centre of mass lies from the coarse pixel it is assigned to.
"""

# %%
# A survey footprint
# ------------------
# A disc of 30° radius centred on longitude 60°, latitude −40°, on a HEALPix grid of nside 32 in
# NESTED order (the package's order: the four children of a coarse pixel are consecutive).
# ``healpy.query_disc`` lists the pixels; the partial-sky sampling keeps exactly those.

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
import torch

from deepsphere.analysis import plot_map
from deepsphere.graph import knn_graph
from deepsphere.nn import Pool, SphericalCNN
from deepsphere.sampling import CubedSphere, Equiangular, HEALPix, Icosahedral

NSIDE = 32
CENTRE_LON_DEG, CENTRE_LAT_DEG = 60.0, -40.0
centre = hp.ang2vec(CENTRE_LON_DEG, CENTRE_LAT_DEG, lonlat=True)
footprint = hp.query_disc(NSIDE, centre, np.radians(30.0), nest=True)
sky = HEALPix(NSIDE, indices=np.sort(footprint))
print(sky)
print(f"{sky.npix} of {sky.npix_full} pixels ({sky.npix / sky.npix_full:.1%} of the sphere)")

# %%
# The graph of the footprint
# --------------------------
# :func:`~deepsphere.graph.knn_graph` joins each kept pixel to its 8 nearest kept pixels. No edge can
# reach a missing pixel, so the work of a graph convolution is proportional to the footprint, not to
# the sphere. Pixels on the border find some of their neighbours further inside, with smaller Gaussian
# weights: their weighted degree ``d_i = Σ_j w_ij`` is lower. The combinatorial Laplacian ``L = D − W``
# still maps a constant map to zero, so filtering leaks nothing across the border (as a reflecting
# boundary would).

graph = knn_graph(sky, k=8)
full_graph = knn_graph(HEALPix(NSIDE), k=8)
print(graph, "versus the full sphere:", full_graph)
laplacian = graph.laplacian()
print("max |L · 1| =", float(np.abs(laplacian @ np.ones(sky.npix)).max()))
degree = graph.degree
print(f"weighted degree: median {np.median(degree):.2f}, minimum {degree.min():.2f} (on the border)")


fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.4, 1]})
plot_map(
    np.ones(sky.npix), sky, ax=left, colorbar=False, title=f"footprint: {sky.npix} pixels of nside {NSIDE}"
)
plot_map(degree, sky, zoom=True, ax=right, title="weighted degree Σ_j w_ij of the k = 8 graph")

# %%
# Pooling along the footprint's own hierarchy
# -------------------------------------------
# :meth:`~deepsphere.sampling.Sampling.coarsen` returns the coarser sampling and, for every fine pixel,
# the row of its parent. On a partial sky the coarse sampling keeps every coarse pixel with at least
# one kept child, so pooling never drops data; a coarse pixel on the border pools the children that
# are there. Colour: the number of children each coarse pixel pools.

levels, parents = [sky], []
for _ in range(3):
    coarse, parent = levels[-1].coarsen()
    levels.append(coarse)
    parents.append(parent)
    children = np.bincount(parent, minlength=coarse.npix)
    print(
        f"nside {coarse.nside:2d}: {coarse.npix:4d} pixels, {np.sum(children < 4):3d} of them on the border"
    )

fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
for ax, coarse, parent in zip(axes, levels[1:], parents, strict=True):
    children = np.bincount(parent).astype(float)
    plot_map(
        children, coarse, zoom=True, ax=ax, vmin=1, vmax=4, title=f"nside {coarse.nside}: children per pixel"
    )

# %%
# Where all four children are present, average pooling is exactly ``healpy.ud_grade`` (the mean of
# the four); on the border it is the mean of the children present. A random full-sky map, cut to the
# footprint and pooled with :class:`~deepsphere.nn.Pool`:

rng = np.random.default_rng(0)
full_map = rng.standard_normal(12 * NSIDE**2)
x = torch.tensor(full_map[sky.indices], dtype=torch.float64)[None, :, None]  # (batch, vertex, channel)
pooled = Pool.from_sampling(sky, levels=1, mode="avg")(x)[0, :, 0].numpy()
reference = hp.ud_grade(full_map, NSIDE // 2, order_in="NESTED", order_out="NESTED")[levels[1].indices]
interior = np.bincount(parents[0]) == 4
print("interior: max |pool − ud_grade| =", float(np.abs(pooled - reference)[interior].max()))
print("border:   max |pool − ud_grade| =", float(np.abs(pooled - reference)[~interior].max()))

# %%
# A whole network on the footprint
# --------------------------------
# :class:`~deepsphere.nn.SphericalCNN` builds one k-NN graph per level of the footprint's hierarchy;
# the input is the footprint's pixels only.

net = SphericalCNN(sky, in_channels=1, n_outputs=2, channels=(8, 16, 32), K=3)
logits = net(torch.randn(4, sky.npix, 1))
print("input (4,", sky.npix, ", 1) → logits", tuple(logits.shape))
print("vertices per level:", [s.npix for s in levels])

# %%
# How irregular is the pooling of each sampling?
# ----------------------------------------------
# Pooling assigns the (area-weighted) mean of the children to the parent's position. If the children's
# centre of mass is not at the parent, every pooling shifts the signal a little. We measure, for each
# coarse pixel, the angle between the parent and the area-weighted centroid of its children, in units
# of the fine pixel spacing ``sqrt(mean pixel area)``:
#
# - HEALPix and the cubed sphere: the parent sits at its children's centre (shifts below 0.13 and
#   0.02 pixel);
# - the icosahedral grid: a coarse vertex pools itself and three edge midpoints, mostly 120° apart,
#   but not everywhere (shifts up to about a third of a pixel);
# - equiangular grids: pairs of longitudes ``2k, 2k+1`` pool into longitude ``2k``, so every pooling
#   moves the map half a fine pixel east (times cos latitude); Driscoll–Healy grids also move it half a
#   ring south, because the coarse rings sit on the even fine rings.


def pooling_shift(sampling):
    """Angle between each coarse pixel and its children's area-weighted centroid, in fine pixels."""
    coarse, parent = sampling.coarsen()
    centroid = np.zeros((coarse.npix, 3))
    np.add.at(centroid, parent, sampling.area[:, None] * sampling.coords)
    centroid /= np.linalg.norm(centroid, axis=1, keepdims=True)
    angle = np.arccos(np.clip(np.sum(centroid * coarse.coords, axis=1), -1.0, 1.0))
    return coarse, angle / np.sqrt(sampling.area.mean())


samplings = {
    "HEALPix nside 16": HEALPix(16),
    "cubed sphere n = 24": CubedSphere(24),
    "icosahedral level 4": Icosahedral(4),
    "equiangular SOFT 32 × 64": Equiangular(32, 64, kind="soft"),
    "equiangular Driscoll–Healy 32 × 64": Equiangular(32, 64, kind="driscoll-healy"),
    "HEALPix footprint (above)": sky,
}
fig, axes = plt.subplots(2, 3, figsize=(13, 6), subplot_kw={"projection": "mollweide"})
for ax, (name, sampling) in zip(axes.flat, samplings.items(), strict=True):
    coarse, shift = pooling_shift(sampling)
    print(f"{name:36s} median shift {np.median(shift):.3f}, max {shift.max():.3f} fine pixels")
    lon = np.where(coarse.lon > np.pi, coarse.lon - 2 * np.pi, coarse.lon)
    points = ax.scatter(lon, coarse.lat, c=shift, s=4, vmin=0, vmax=1.25, cmap="viridis")
    ax.set_title(name, fontsize=9)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
fig.colorbar(points, ax=axes, shrink=0.6, label="pooling shift (fine pixels)")

# %%
# The footprint's border pixels pool fewer children, so their centroid moves inwards: on a partial sky
# the shift is largest on the border, whatever the sampling. Equiangular grids shift every pooling by
# the same half pixel eastwards, which a network can learn to absorb but which breaks the symmetry
# between east and west; HEALPix pools in place.
