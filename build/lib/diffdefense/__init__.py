"""DiffDefense: adversarial defence by diffusion-model reconstruction (Silva et al., 2023).

Use it from Python: `defended_classifier` wraps any classifier with a defence; `load_pipeline_models`
loads what `dvc repro` trained; `diffdefense.attacks.build_attack` attacks the result."""

__version__ = "0.1.0"

from .defended import (DefendedClassifier, check_images, defended_classifier, detection_threshold,  # noqa: E402
                       load_pipeline_models)

__all__ = ["DefendedClassifier", "check_images", "defended_classifier", "detection_threshold", "load_pipeline_models"]
