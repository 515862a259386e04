"""DeepFool (Moosavi-Dezfooli et al., 2016), batched in PyTorch, following ART's DeepFool step for step.

Each iteration linearises the classifier around the still-correct images, moves each to the nearest
linearised boundary among its top `nb_grads` classes, and clips to [0, 1]; the result is overshot by
(1 + epsilon) at the end, as ART does. Differences from ART, both deliberate: the reference class is the
true label (ART uses the model's prediction; the two agree on correctly classified images, the others are
left as they are), and all images of a batch are processed together with finished ones dropped. ART's
implementation took ~3 s per image on a trained classifier A here (its batches run until the slowest image
finishes, each iteration computing ten gradients in numpy round-trips); torchattacks' DeepFool stops
early and left 53 % accuracy (REFERENCE-NOTES). tests/test_attacks.py checks this one against ART.
"""

import torch

from ..settings import NON_NEGATIVE, POSITIVE_INT, Setting, Settings

SETTINGS = Settings(
    "DeepFool (ART's defaults)",
    max_iter=Setting(POSITIVE_INT, 100, "iterations"),
    epsilon=Setting(NON_NEGATIVE, 1e-6, "overshoot"),
    nb_grads=Setting(POSITIVE_INT, 10, "top classes whose boundaries are considered"),
)

TOLERANCE = 1e-7  # ART's tol (10e-8)


def deepfool(model, images, labels, *, max_iter: int, epsilon: float, nb_grads: int) -> torch.Tensor:
    """Batched DeepFool as in ART: for each still-correct image, step to the nearest linearised boundary
    among the `nb_grads` top classes, up to `max_iter` times, then overshoot by (1 + epsilon)."""
    adversarial = images.clone()
    with torch.no_grad():
        active = model(images).argmax(1) == labels
    for _ in range(max_iter):
        index = active.nonzero().squeeze(1)
        if len(index) == 0:
            break
        x = adversarial[index].clone().requires_grad_(True)
        y = labels[index]
        logits = model(x)
        rows = torch.arange(len(index), device=x.device)
        candidates = logits.detach().topk(min(nb_grads, logits.shape[1]), 1).indices
        grads = torch.zeros((len(index), logits.shape[1]) + x.shape[1:], device=x.device)
        for k in torch.unique(torch.cat([candidates.flatten(), y])).tolist():
            grads[:, k] = torch.autograd.grad(logits[:, k].sum(), x, retain_graph=True)[0]
        f_diff = logits.detach() - logits.detach()[rows, y][:, None]
        g_diff = grads - grads[rows, y][:, None]
        distance = f_diff.abs() / (g_diff.flatten(2).norm(dim=2) + TOLERANCE)
        allowed = torch.zeros_like(distance, dtype=torch.bool).scatter_(1, candidates, True)
        allowed[rows, y] = False
        nearest = distance.masked_fill(~allowed, float("inf")).argmin(1)
        direction = g_diff[rows, nearest]
        step = f_diff[rows, nearest].abs() / (direction.flatten(1).norm(dim=1) ** 2 + TOLERANCE)
        adversarial[index] = (x.detach() + step.view(-1, *[1] * (x.dim() - 1)) * direction).clamp(0, 1)
        with torch.no_grad():
            active[index] = model(adversarial[index]).argmax(1) == y
    return (images + (1 + epsilon) * (adversarial - images)).clamp(0, 1)


def build(model, **settings):
    """DeepFool (Moosavi-Dezfooli et al., 2016) against `model` with ART's defaults."""
    s = SETTINGS.resolve(settings)
    return lambda images, labels: deepfool(model, images, labels, max_iter=s.max_iter, epsilon=s.epsilon,
                                           nb_grads=s.nb_grads)
