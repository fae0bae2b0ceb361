"""Sphinx configuration of the deepsphere documentation.

Build (as CI does; warnings are errors, every cross-reference must resolve, the tutorials run)::

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

The build is offline: no intersphinx inventories are fetched, so references to other projects' objects
(numpy, torch, …) are rendered as plain text (``nitpick_ignore_regex`` below); references to this
package's objects must resolve.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import matplotlib
from sphinx.pycode import ModuleAnalyzer

import deepsphere

matplotlib.use("Agg")  # the tutorials and the plot directive draw off-screen

ROOT = Path(__file__).resolve().parent.parent

project = "deepsphere"
author = "the deepsphere authors"
copyright = "the deepsphere authors, MIT license"  # noqa: A001 (Sphinx's name)
release = deepsphere.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
html_theme = "furo"
html_title = f"deepsphere {release}"
html_static_path: list[str] = []

# -- API reference: autosummary over each package's __all__, numpy-style docstrings --------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a package's members are the names in its __all__
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
autodoc_inherit_docstrings = False  # torch/Lightning base-class docstrings are not ours to check
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# Parameter and return types are written as prose ("ndarray, shape (npix, 3), float64"): render them as
# text, not as cross-references that could never resolve.
napoleon_use_param = False
napoleon_use_rtype = False
# "Attributes" sections are written like "Parameters" ones (prose types): render them the same way.
napoleon_custom_sections = [("Attributes", "params_style")]

# -- Nitpicky: every reference to this package must resolve --------------------------------------------------
nitpicky = True
EXTERNAL = (  # other projects' packages (and the short names the docstrings give them)
    "numpy np scipy sp torch lightning L healpy hp matplotlib sklearn pathlib os collections typing types "
    "dataclasses enum abc yaml xarray trimesh h5py netCDF4 numba cdshealpix pandas subprocess logging "
    "concurrent"
).split()
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(EXTERNAL)})(\..+)?"),  # other projects: no inventories offline
    (r"py:.*", rf"({'|'.join(n for n in dir(builtins) if not n.startswith('_'))})"),  # int, float, …
    (r"py:.*", r"(ndarray|array_like|ArrayLike|Tensor|Module|Path|PathLike|Callable|Sequence|Iterable)"),
    (r"py:.*", r"(Dataset|Sampler|DataLoader|LightningModule|LightningDataModule|Callback)"),  # torch, …
    (r"py:.*", r"_\w+"),  # private type variables in other projects' signatures (torch's _T_co, …)
]

# -- Figures made while building (``plot`` directive, the experiment pages) ----------------------------------
plot_formats = [("png", 90)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_pre_code = ""  # each figure's code imports what it uses

# -- Markdown pages ------------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Tutorials: sphinx-gallery runs every script in tutorials/ and shows its output and figures --------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "tutorials"),
    "gallery_dirs": "tutorials",
    "filename_pattern": r"/plot_",  # execute every tutorial
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "reset_modules": ("matplotlib",),
    "capture_repr": (),
}


# -- Package structure for the API templates -----------------------------------------------------------------
PACKAGES = ["sampling", "graph", "nn", "data", "analysis", "tasks"]


def _constants(module) -> list[dict[str, str | None]]:
    """The public UPPER_CASE names assigned at the top level of ``module``'s source, each with its ``#:``
    doc comment and, when short, its value."""
    docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
    entries = []
    for node in ast.parse(inspect.getsource(module)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            name = getattr(target, "id", "")
            if name.isupper() and not name.startswith("_"):
                value = repr(getattr(module, name))
                entries.append(
                    {
                        "name": name,
                        "value": value if len(value) <= 100 and "\n" not in value else None,
                        "doc": "\n".join(docs.get(("", name), [])).strip(),
                    }
                )
    return entries


def _package_structure() -> dict[str, dict]:
    """For the templates: each package's exported names (``__all__``) and exported constants, its
    sub-folders that hold no Python code, and each module's other constants."""
    exported, data, namespace, constants = {}, {}, {}, {}
    for name in PACKAGES:
        package = importlib.import_module(f"deepsphere.{name}")
        exported[package.__name__] = list(package.__all__)
        namespace[package.__name__], data[package.__name__] = [], []
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg and not (Path(package.__path__[0]) / info.name / "__init__.py").is_file():
                namespace[package.__name__].append(info.name)
                continue
            try:
                module = importlib.import_module(f"{package.__name__}.{info.name}")
            except ImportError:
                continue  # autosummary reports the module that cannot be imported, as a warning
            entries = _constants(module)
            constants[module.__name__] = [e for e in entries if e["name"] not in package.__all__]
            data[package.__name__] += [e for e in entries if e["name"] in package.__all__]
    return {
        "exported": exported,
        "package_data": data,
        "namespace_modules": namespace,
        "constants": constants,
    }


autosummary_context = _package_structure()


# -- Names in docstrings resolve as Python resolves them in the module that wrote the docstring --------------
def _documented_names(qualified: str) -> list[str]:
    """``deepsphere.graph.knn.knn_graph`` (where it is defined) and the names it may be documented under:
    ``deepsphere.graph.knn_graph`` (its package exports it)."""
    parts = qualified.split(".")
    names = [qualified]
    if parts[0] == "deepsphere":
        names += [".".join(parts[:cut] + parts[cut + 1 :]) for cut in range(len(parts) - 2, 1, -1)]
    return names


def _import(dotted: str):
    """The object named ``dotted`` (a module, or attributes of one), or None."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _qualified_name(obj) -> str | None:
    if inspect.ismodule(obj):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def _candidates(target: str, docname: str, module: str | None) -> list[str]:
    """Where ``target`` may be documented, most specific first."""
    candidates = _documented_names(target)
    # The generated API pages are named after the object they document: a short name in its docstring
    # is looked up in its module's namespace, as Python would.
    page = _import(Path(docname).name) if Path(docname).name.startswith("deepsphere.") else None
    scopes = [page.__name__ if inspect.ismodule(page) else getattr(page, "__module__", None), module]
    head, _, rest = target.partition(".")
    for scope in filter(None, scopes):
        namespace = vars(sys.modules[scope]) if scope in sys.modules else {}
        qualified = _qualified_name(namespace[head]) if head in namespace else None
        if qualified:
            candidates += _documented_names(f"{qualified}.{rest}" if rest else qualified)
    if module and module.startswith("deepsphere."):  # a name exported by an enclosing package
        scope = module.split(".")
        candidates += [".".join([*scope[:depth], target]) for depth in range(len(scope) - 1, 0, -1)]
    return candidates


def _resolve_by_python_scope(app, env, node, contnode):
    """``missing-reference`` handler: try the names of :func:`_candidates`; then the one documented
    ``deepsphere`` object whose name ends with ``.target`` (none or several: unresolved); then, for an
    attribute ``Class.name``, its class."""
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"]
    for candidate in _candidates(target, node["refdoc"], node.get("py:module")):
        if candidate == target:
            continue
        found = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode
        )
        if found is not None:
            return found
    roles = domain.objtypes_for_role(node["reftype"]) or []
    matches = [
        name
        for name, entry in domain.objects.items()
        if name.startswith("deepsphere.")
        and name.endswith(f".{target}")
        and entry.objtype in roles
        and not entry.aliased  # the defining module's name of an object documented under its package
    ]
    if len(matches) == 1:
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], matches[0], node, contnode
        )
    if node["reftype"] == "attr" and "." in target:
        # Attributes are documented in their class's "Attributes" section (as text, see napoleon above):
        # :attr:`GHCNDataset.mask` links to the class.
        owner = target.rsplit(".", 1)[0]
        for candidate in _candidates(owner, node["refdoc"], node.get("py:module")):
            found = domain.resolve_xref(env, node["refdoc"], app.builder, "class", candidate, node, contnode)
            if found is not None:
                return found
    return None


def _public_bases(app, name, obj, options, bases):
    """``autodoc-process-bases``: show a private base class (``_Hierarchy``) as its own public bases."""
    i = 0
    while i < len(bases):
        if bases[i].__name__.startswith("_") and bases[i] is not object:
            bases[i : i + 1] = [b for b in bases[i].__bases__ if b is not object]
        else:
            i += 1


def _dataclass_factories(app, what, name, obj, options, signature, return_annotation):
    """``autodoc-process-signature``: a dataclass field's ``default_factory`` shows as ``<factory>``,
    which is not Python and breaks Sphinx's signature parser; show ``...`` instead."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def setup(app):
    app.connect("missing-reference", _resolve_by_python_scope)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-signature", _dataclass_factories)
