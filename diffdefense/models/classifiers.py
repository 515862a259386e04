"""The paper's MNIST classifiers: A (the attacked model) and B (the black-box substitute), for C x H x W
images (`image_shape`; the authors' 1 x 28 x 28 by default)."""

from torch import nn


def _conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class ClassifierA(nn.Module):
    """conv5x5/64 s1 -> conv5x5/64 s2 -> dropout .25 -> fc128 -> dropout .5 -> fc10 (authors' code order)."""

    def __init__(self, num_classes: int = 10, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        channels, height, width = self.image_shape = tuple(image_shape)
        h, w = (_conv_out(_conv_out(n, 5), 5, 2) for n in (height, width))  # 28 -> 24 -> 10
        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 5, stride=1), nn.ReLU(),
            nn.Conv2d(64, 64, 5, stride=2), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * h * w, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        """Logits (N x num_classes) for images x (N x C x H x W in [0, 1])."""
        return self.net(x)


class ClassifierB(nn.Module):
    """dropout .2 -> conv8x8/64 s2 -> conv6x6/128 s2 -> conv5x5/128 s1 p1 -> dropout .5 -> fc10."""

    def __init__(self, num_classes: int = 10, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        channels, height, width = self.image_shape = tuple(image_shape)
        h, w = (_conv_out(_conv_out(_conv_out(n, 8, 2), 6, 2), 5, 1, 1) for n in (height, width))  # 28 -> 1
        self.net = nn.Sequential(
            nn.Dropout(0.2),
            nn.Conv2d(channels, 64, 8, stride=2), nn.ReLU(),
            nn.Conv2d(64, 128, 6, stride=2), nn.ReLU(),
            nn.Conv2d(128, 128, 5, stride=1, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.5),
            nn.Linear(128 * h * w, num_classes),
        )

    def forward(self, x):
        """Logits (N x num_classes) for images x (N x C x H x W in [0, 1])."""
        return self.net(x)
