"""DeepSphere: spherical CNNs on graphs.

Layers (bottom to top): :mod:`deepsphere.sampling` (where the pixels are), :mod:`deepsphere.graph`
(which pixels talk and how strongly).
"""

__version__ = "0.1.0"
