"""DiffDefense: adversarial defence by diffusion-model reconstruction (Silva et al., 2023).

Use it from Python: `defended_classifier` wraps any classifier with a defence; `load_pipeline_models`
loads what `dvc repro` trained; `diffdefense.attacks.build_attack` attacks the result."""

__version__ = "0.1.0"

__all__ = ["DefendedClassifier", "check_images", "defended_classifier", "detection_threshold", "load_pipeline_models"]


def __getattr__(name: str):
    # The API is imported on first use, so that `import diffdefense.data` (every pipeline stage imports
    # some submodule) does not import the whole package: a stage's imports are then its real dependencies.
    if name in __all__:
        from . import defended
        return getattr(defended, name)
    raise AttributeError(f"module 'diffdefense' has no attribute {name!r}")
