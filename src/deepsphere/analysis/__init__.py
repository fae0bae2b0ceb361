"""Analyses of spherical operators and models (numpy, scipy and healpy only: no torch needed).

- :func:`equivariance_error` — the DeepSphere ICLR 2020 normalized equivariance error
  ``E = (‖R L f − L R f‖ / ‖L f‖)²`` of any operator on HEALPix maps, per spherical-harmonic degree.
- :func:`equivariance_error_on`, :func:`band_limit` — the same error on any full-sphere sampling (exact
  harmonic signals, area-weighted least-squares rotation of ``L f`` up to the sampling's band limit).
- :func:`best_kernel_width`, :func:`equivariance_sweep`, :class:`KernelWidthSweep`,
  :func:`equivariance_floor`, :func:`matched_sampling`, :data:`PAPER_KERNEL_WIDTHS` — the kernel width that
  minimises the error per sampling, nside and k, against the paper's widths; :func:`equivariance_report`
  prints and plots it.
- :func:`rotate_map`, :func:`random_rotation`, :func:`rotation_matrix` — rotations of HEALPix maps
  in harmonic space (ZYZ Euler angles, radians).
- :func:`harmonic_signals` — random real maps of a single degree ℓ, with their ``a_ℓm``.
- :func:`patch_grid` — the square face grid of the ``12·4^m`` equal-area NESTED patches of the cosmology task.
- :func:`power_spectrum_features`, :func:`power_spectrum_ells` — flat-sky log power spectrum of each patch in
  logarithmic multipole bins, and the bins' ℓ.
- :func:`histogram_edges`, :func:`histogram_features` — normalised pixel-value histograms of each patch.
- :func:`linear_svm`, :class:`SVMResult` — the classical baseline: standardised features, linear SVM, C chosen
  on validation (needs scikit-learn: extra ``deepsphere[cosmo]``).
- :func:`learn_graph`, :func:`log_degree_graph`, :func:`theta_for_k` — learn a sparse graph from smooth
  signals (Kalofolias & Perraudin 2019 log-degree model on k-NN candidate edges); :func:`edge_f_measure`
  scores edges against a known graph; :func:`learn_graph_report` recovers a HEALPix graph from its signals.
- :func:`retrieval_metrics`, :func:`retrieval_lists_from_predictions`, :func:`classification_accuracy` —
  the SHREC'17 retrieval scores (P@N, R@N, F1@N, mAP; micro and macro) of ranked lists, the papers'
  lists built from a classifier's probabilities, and accuracy.
- :func:`real_spherical_harmonics`, :func:`graph_spectrum`, :func:`subspace_alignment`,
  :func:`degree_eigenvalues` — a graph Laplacian's spectrum against the sphere's (eigenvalues per degree ℓ
  against ℓ(ℓ+1), overlap of each group of 2ℓ+1 Fourier modes with the degree-ℓ harmonics);
  :func:`spectrum_report` does it for a sampling's k-NN graph, with figures.
- :func:`chebyshev_coefficients`, :func:`chebyshev_filter`, :func:`exact_filter`, :func:`heat_kernel`,
  :func:`spectral_response` — spectral filters as Chebyshev polynomials of the Laplacian against the exact
  filter; :func:`filter_report` compares them for heat diffusion on a HEALPix graph.
- :func:`plot_map`, :func:`interpolate_to_grid`, :func:`plot_graph`, :func:`plot_fourier_modes`,
  :func:`save_figure` — Mollweide, orthographic, Cartesian and zoomed views of maps of any sampling (partial
  skies blank where there is no pixel), graphs on the sphere, graph Fourier modes (needs matplotlib: extra
  ``deepsphere[plot]``).
- :func:`segmentation_scores`, :class:`SegmentationScores`, :func:`confusion_matrix`,
  :func:`per_class_accuracy`, :func:`iou_scores`, :func:`average_precision` — per-vertex segmentation
  scores (climate events); :func:`r2_scores`, :func:`circular_error_days` — masked R² and day-of-year error
  (GHCN weather).
"""

from .baselines import (
    SVMResult,
    histogram_edges,
    histogram_features,
    linear_svm,
    patch_grid,
    power_spectrum_ells,
    power_spectrum_features,
)
from .equivariance import (
    EquivarianceResult,
    band_limit,
    equivariance_error,
    equivariance_error_on,
    harmonic_signals,
    random_rotation,
    rotate_map,
    rotation_matrix,
)
from .filters import (
    chebyshev_coefficients,
    chebyshev_filter,
    exact_filter,
    filter_report,
    heat_kernel,
    spectral_response,
)
from .graph_learning import (
    LogDegreeResult,
    edge_f_measure,
    learn_graph,
    learn_graph_report,
    log_degree_graph,
    theta_for_k,
)
from .kernel_width import (
    PAPER_KERNEL_WIDTHS,
    KernelWidthSweep,
    best_kernel_width,
    equivariance_floor,
    equivariance_report,
    equivariance_sweep,
    matched_sampling,
)
from .plotting import interpolate_to_grid, plot_fourier_modes, plot_graph, plot_map, save_figure
from .retrieval import classification_accuracy, retrieval_lists_from_predictions, retrieval_metrics
from .segmentation import (
    SegmentationScores,
    average_precision,
    circular_error_days,
    confusion_matrix,
    iou_scores,
    per_class_accuracy,
    r2_scores,
    segmentation_scores,
)
from .spectrum import (
    degree_eigenvalues,
    graph_spectrum,
    real_spherical_harmonics,
    spectrum_report,
    subspace_alignment,
)

__all__ = [
    "SegmentationScores",
    "average_precision",
    "circular_error_days",
    "confusion_matrix",
    "iou_scores",
    "per_class_accuracy",
    "r2_scores",
    "segmentation_scores",
    "classification_accuracy",
    "retrieval_lists_from_predictions",
    "retrieval_metrics",
    "EquivarianceResult",
    "KernelWidthSweep",
    "PAPER_KERNEL_WIDTHS",
    "band_limit",
    "best_kernel_width",
    "equivariance_error_on",
    "equivariance_floor",
    "equivariance_report",
    "equivariance_sweep",
    "matched_sampling",
    "LogDegreeResult",
    "SVMResult",
    "chebyshev_coefficients",
    "chebyshev_filter",
    "degree_eigenvalues",
    "edge_f_measure",
    "equivariance_error",
    "exact_filter",
    "filter_report",
    "graph_spectrum",
    "harmonic_signals",
    "heat_kernel",
    "histogram_edges",
    "histogram_features",
    "interpolate_to_grid",
    "learn_graph",
    "learn_graph_report",
    "linear_svm",
    "log_degree_graph",
    "patch_grid",
    "plot_fourier_modes",
    "plot_graph",
    "plot_map",
    "power_spectrum_ells",
    "power_spectrum_features",
    "random_rotation",
    "real_spherical_harmonics",
    "rotate_map",
    "rotation_matrix",
    "save_figure",
    "spectral_response",
    "spectrum_report",
    "subspace_alignment",
    "theta_for_k",
]
