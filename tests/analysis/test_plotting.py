"""Plots check numbers, not pictures: the values drawn, the blank cells, the axes, the saved files."""

import re
import sys

import healpy as hp
import matplotlib
import numpy as np
import pytest
from healpy import projector

from deepsphere.analysis.plotting import (
    interpolate_to_grid,
    plot_fourier_modes,
    plot_graph,
    plot_map,
    save_figure,
)
from deepsphere.analysis.spectrum import graph_spectrum
from deepsphere.graph import SphereGraph, knn_graph
from deepsphere.sampling import Equiangular, HEALPix, PointCloud

matplotlib.use("Agg")


def random_cloud(n, seed):
    return PointCloud.from_coords(np.random.default_rng(seed).standard_normal((n, 3)))


def grid_vectors(lon, lat):
    lon2, lat2 = np.meshgrid(lon, lat)
    return np.stack([np.cos(lat2) * np.cos(lon2), np.cos(lat2) * np.sin(lon2), np.sin(lat2)], axis=-1)


def assert_nearest(result, values, coords, directions):
    """Each result is the value of a pixel whose centre is nearest its direction (exhaustive search).

    Where several centres are equally near (symmetric points of a regular sampling) any of them will do.
    """
    result = np.asarray(result).ravel()
    row_of = {value: row for row, value in enumerate(values)}
    assert len(row_of) == len(values), "values must be distinct for the test"
    rows = np.array([row_of[v] for v in result])
    dots = directions.reshape(-1, 3) @ coords.T
    assert np.all(dots[np.arange(len(rows)), rows] >= dots.max(axis=1) - 1e-12)


def drawn(fig):
    """The map image of a plot_map figure (the last image of the first axes), masked where blank."""
    return np.ma.masked_invalid(np.ma.getdata(fig.axes[0].images[-1].get_array()))


# -- interpolate_to_grid -------------------------------------------------------------------------------------


def test_grid_takes_the_nearest_pixel_value():
    cloud = random_cloud(300, seed=1)
    values = np.random.default_rng(2).standard_normal(300)
    lon, lat, grid = interpolate_to_grid(values, cloud, nlat=30, nlon=60)
    assert lon.shape == (60,) and lat.shape == (30,) and grid.shape == (30, 60)
    assert np.allclose(np.diff(lon), 2 * np.pi / 60) and lon[0] == pytest.approx(np.pi / 60)
    assert np.all(np.diff(lat) > 0) and lat[0] == pytest.approx(-np.pi / 2 + np.pi / 60)
    assert not np.ma.getmaskarray(grid).any()
    assert_nearest(grid.data, values, cloud.coords, grid_vectors(lon, lat))
    healpix = HEALPix(nside=4)
    values = np.random.default_rng(3).standard_normal(healpix.npix)
    lon, lat, grid = interpolate_to_grid(values, healpix, nlat=25, nlon=50)
    assert_nearest(grid.data, values, healpix.coords, grid_vectors(lon, lat))


def test_grid_is_exact_at_pixel_centres():
    lon = 2 * np.pi * (np.arange(16) + 0.5) / 16
    lat = -np.pi / 2 + np.pi * (np.arange(8) + 0.5) / 8
    lon2, lat2 = np.meshgrid(lon, lat)
    on_grid = PointCloud(lon2.ravel(), lat2.ravel())
    values = np.random.default_rng(4).standard_normal(on_grid.npix)
    _, _, grid = interpolate_to_grid(values, on_grid, nlat=8, nlon=16)
    assert np.array_equal(grid.data.ravel(), values)


def test_grid_masks_cells_outside_a_partial_sky():
    full = HEALPix(nside=8)
    patch = full.with_indices(np.arange(64, 192))  # NESTED base pixels 1 and 2
    values = np.arange(64, 192, dtype=float)
    lon, lat, grid = interpolate_to_grid(values, patch, nlat=40, nlon=80)
    directions = grid_vectors(lon, lat)
    angle = np.arccos(np.clip(directions @ patch.coords.T, -1, 1)).min(axis=-1)
    limit = 1.5 * np.sqrt(4 * np.pi / full.npix)
    assert np.array_equal(np.ma.getmaskarray(grid), angle > limit)
    inside = hp.vec2pix(8, *directions.reshape(-1, 3).T, nest=True).reshape(40, 80)
    inside = (inside >= 64) & (inside < 192)
    assert not np.ma.getmaskarray(grid)[inside].any()  # cells in a kept pixel are never blank
    assert np.ma.getmaskarray(grid)[lat < -0.3].all()  # the patch is in the north
    kept = ~np.ma.getmaskarray(grid)
    assert_nearest(grid.data[kept], values, patch.coords, directions[kept])
    _, _, wide = interpolate_to_grid(values, patch, nlat=40, nlon=80, max_distance=np.pi)
    assert not np.ma.getmaskarray(wide).any()


def test_grid_rejects_bad_input():
    s = HEALPix(nside=2)
    with pytest.raises(ValueError, match=r"values has shape \(47,\), the sampling needs \(48,\)"):
        interpolate_to_grid(np.zeros(47), s, 4, 8)
    with pytest.raises(ValueError, match="NaN"):
        interpolate_to_grid(np.full(48, np.nan), s, 4, 8)
    with pytest.raises(ValueError, match="UNSEEN"):
        interpolate_to_grid(np.full(48, hp.UNSEEN), s, 4, 8)
    with pytest.raises(ValueError, match="nlat"):
        interpolate_to_grid(np.zeros(48), s, 0, 8)
    with pytest.raises(ValueError, match="max_distance"):
        interpolate_to_grid(np.zeros(48), s, 4, 8, max_distance=-1.0)
    with pytest.raises(ValueError, match="sampling must be"):
        interpolate_to_grid(np.zeros(48), np.zeros((48, 3)), 4, 8)


# -- plot_map --------------------------------------------------------------------------------------------


@pytest.fixture
def pyplot():
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # healpy's own views
@pytest.mark.parametrize("view", ["mollweide", "orthographic", "cartesian"])
def test_healpix_views_match_healpy(view, pyplot):
    sampling = HEALPix(nside=8)
    values = np.random.default_rng(5).standard_normal(sampling.npix)
    fig = plot_map(values, sampling, view=view, rot_deg=(40.0, 25.0), resolution=200)
    draw = {"mollweide": hp.mollview, "orthographic": hp.orthview, "cartesian": hp.cartview}[view]
    extra = {"half_sky": True} if view == "orthographic" else {}
    reference = draw(values, nest=True, rot=(40.0, 25.0), xsize=200, return_projected_map=True, **extra)
    reference = np.ma.masked_invalid(np.ma.masked_equal(np.ma.getdata(reference), hp.UNSEEN))
    image = drawn(fig)
    assert image.shape == reference.shape
    assert np.array_equal(image.mask, reference.mask)
    assert np.array_equal(image.compressed(), reference.compressed())


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_partial_healpix_sky_is_blank_where_pixels_are_missing(pyplot):
    sampling = HEALPix(nside=8, nest=False)
    kept = np.flatnonzero(hp.pix2ang(8, np.arange(768))[0] < 1.0)  # a polar cap, RING numbers
    patch = sampling.with_indices(kept)
    fig = plot_map(kept.astype(float), patch, resolution=200)
    full = np.full(768, hp.UNSEEN)
    full[kept] = kept
    reference = hp.mollview(full, nest=False, xsize=200, return_projected_map=True)
    reference = np.ma.masked_invalid(np.ma.masked_equal(np.ma.getdata(reference), hp.UNSEEN))
    image = drawn(fig)
    assert np.array_equal(image.mask, reference.mask)
    assert set(np.unique(image.compressed())) <= set(kept.tolist())
    blank = fig.axes[0].images[0].get_array()  # the grey layer, shown only where the sky has no pixel
    assert (~np.ma.getmaskarray(blank)).sum() > 0.4 * image.size


def test_other_samplings_draw_the_nearest_pixel(pyplot):
    sampling = Equiangular(nlat=12, nlon=24, kind="soft")
    values = np.random.default_rng(6).standard_normal(sampling.npix)
    fig = plot_map(values, sampling, view="cartesian", resolution=120)
    proj = projector.CartesianProj(xsize=120)
    x, y = proj.ij2xy()
    directions = np.stack(proj.xy2vec(np.asarray(x), np.asarray(y)), axis=-1)
    image = drawn(fig)
    assert image.count() == image.size  # a full sky: no blank cell
    assert_nearest(image.data, values, sampling.coords, directions)


def test_zoom_shows_the_whole_patch_and_only_it(pyplot):
    patch = HEALPix(nside=16).with_indices(np.arange(4 * 64, 5 * 64))  # one nside-2 pixel
    values = np.arange(patch.npix, dtype=float)
    fig = plot_map(values, patch, zoom=True, resolution=300)
    image = drawn(fig)
    assert np.array_equal(np.unique(image.compressed()), values)  # every kept pixel visible
    assert 0.1 < image.count() / image.size < 0.9  # the patch fills the view, with some blank border
    big = HEALPix(nside=4).with_indices(np.arange(0, 96))  # half the sky: Cartesian view of its range
    fig = plot_map(np.arange(96.0), big, zoom=True, resolution=200)
    assert np.array_equal(np.unique(drawn(fig).compressed()), np.arange(96.0))


def test_map_figures_axes_and_saving(tmp_path):
    sampling = random_cloud(100, seed=7)
    values = np.random.default_rng(8).standard_normal(100)
    fig = plot_map(values, sampling, title="cloud", resolution=64)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "cloud"
    assert len(plot_map(values, sampling, colorbar=False, resolution=64).axes) == 1
    from matplotlib.figure import Figure

    own = Figure()
    axes = own.subplots(1, 2)
    assert plot_map(values, sampling, ax=axes[1], colorbar=False, resolution=64) is own
    path = save_figure(fig, tmp_path / "map.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    with pytest.raises(FileExistsError):
        save_figure(fig, path)
    assert save_figure(fig, path, overwrite=True) == path
    with pytest.raises(ValueError, match="path must end in one of"):
        save_figure(fig, tmp_path / "map.xyz")
    with pytest.raises(ValueError, match="fig must be a matplotlib Figure"):
        save_figure(fig.axes[0], tmp_path / "axes.png")


def test_plot_map_rejects_bad_input():
    s = HEALPix(nside=2)
    values = np.zeros(48)
    with pytest.raises(ValueError, match="view must be one of"):
        plot_map(values, s, view="robinson")
    with pytest.raises(ValueError, match="values has shape"):
        plot_map(np.zeros((48, 2)), s)
    with pytest.raises(ValueError, match="resolution"):
        plot_map(values, s, resolution=4)
    with pytest.raises(ValueError, match="rot_deg"):
        plot_map(values, s, rot_deg=(0.0, 120.0))
    with pytest.raises(ValueError, match="rot_deg"):
        plot_map(values, s, rot_deg="north")
    with pytest.raises(ValueError, match="zoom=True needs a partial sky"):
        plot_map(values, s, zoom=True)
    with pytest.raises(ValueError, match="rot_deg must be None with zoom"):
        plot_map(values[:4], s.with_indices(np.arange(4)), zoom=True, rot_deg=(0.0, 0.0))
    with pytest.raises(ValueError, match="flip"):
        plot_map(values, s, flip="mirror")
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        plot_map(values, s, ax="left")


# -- plot_graph and plot_fourier_modes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph():
    return knn_graph(HEALPix(nside=4), k=8)


def test_plot_graph_orthographic_draws_the_front_hemisphere(graph):
    fig = plot_graph(graph, rot_deg=(30.0, 10.0), max_edges=300)
    assert len(fig.axes) == 1
    edges, vertices = fig.axes[0].collections
    centre = hp.ang2vec(30.0, 10.0, lonlat=True)
    assert len(vertices.get_offsets()) == int((graph.coords @ centre > 0).sum())
    assert 0 < len(edges.get_segments()) <= 300
    assert np.all(np.hypot(*np.asarray(vertices.get_offsets()).T) <= 1 + 1e-12)
    everything = plot_graph(graph, max_edges=10**6)
    n_front_edges = len(everything.axes[0].collections[0].get_segments())
    assert n_front_edges < graph.n_edges


def test_plot_graph_3d_and_saving(graph, tmp_path):
    fig = plot_graph(graph, view="3d", max_edges=500)
    assert len(fig.axes) == 1 and fig.axes[0].name == "3d"
    assert save_figure(fig, tmp_path / "graph.png").stat().st_size > 1000
    assert len(fig.axes[0].collections[0].get_segments()) == 500  # projected when drawn
    assert len(fig.axes[0].collections[1].get_offsets()) == graph.n_vertices


def test_plot_graph_rejects_bad_input(graph):
    bare = SphereGraph(graph.weights)  # no coordinates
    with pytest.raises(ValueError, match="no coords"):
        plot_graph(bare)
    assert len(plot_graph(bare, sampling=HEALPix(nside=4)).axes) == 1
    with pytest.raises(ValueError, match="sampling has 48 pixels, the graph has 192"):
        plot_graph(graph, sampling=HEALPix(nside=2))
    with pytest.raises(ValueError, match="view must be one of"):
        plot_graph(graph, view="mollweide")
    with pytest.raises(ValueError, match="max_edges"):
        plot_graph(graph, max_edges=0)
    with pytest.raises(ValueError, match="graph must be a SphereGraph"):
        plot_graph(graph.weights)
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match="3-D axes"):
        plot_graph(graph, view="3d", ax=Figure().add_subplot())


def test_plot_fourier_modes_labels_each_mode(graph):
    fig = plot_fourier_modes(graph, n_modes=6, sampling=HEALPix(nside=4), resolution=64)
    assert len(fig.axes) == 6
    values, _ = graph_spectrum(graph, 6)
    for i, ax in enumerate(fig.axes):
        ell, lam = re.fullmatch(r"ℓ=(\d+), λ=(\S+)", ax.get_title()).groups()
        assert int(ell) == [0, 1, 1, 1, 2, 2][i]
        assert float(lam) == pytest.approx(values[i], rel=5e-3, abs=1e-12)  # 3 digits
    fig = plot_fourier_modes(graph, n_modes=4, view="orthographic", resolution=64)
    assert len(fig.axes) == 4  # a PointCloud of the graph's coordinates
    with pytest.raises(ValueError, match="n_modes"):
        plot_fourier_modes(graph, n_modes=0)
    with pytest.raises(ValueError, match="n_modes must be at most the number of vertices"):
        plot_fourier_modes(graph, n_modes=193)
    with pytest.raises(ValueError, match="view must be one of"):
        plot_fourier_modes(graph, view="3d")


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'deepsphere\[plot\]'"):
        plot_map(np.zeros(12), HEALPix(nside=1))
