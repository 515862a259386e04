"""The paper's MNIST classifiers: A (the attacked model) and B (the black-box substitute)."""

from torch import nn


class ClassifierA(nn.Module):
    """conv5x5/64 s1 -> conv5x5/64 s2 -> dropout .25 -> fc128 -> dropout .5 -> fc10 (authors' code order)."""

    image_shape = (1, 28, 28)  # C x H x W of the images it takes

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 5, stride=1), nn.ReLU(),
            nn.Conv2d(64, 64, 5, stride=2), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * 10 * 10, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        """Logits (N x num_classes) for images x (N x 1 x 28 x 28 in [0, 1])."""
        return self.net(x)


class ClassifierB(nn.Module):
    """dropout .2 -> conv8x8/64 s2 -> conv6x6/128 s2 -> conv5x5/128 s1 p1 -> dropout .5 -> fc10."""

    image_shape = (1, 28, 28)  # C x H x W of the images it takes

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(0.2),
            nn.Conv2d(1, 64, 8, stride=2), nn.ReLU(),
            nn.Conv2d(64, 128, 6, stride=2), nn.ReLU(),
            nn.Conv2d(128, 128, 5, stride=1, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        """Logits (N x num_classes) for images x (N x 1 x 28 x 28 in [0, 1])."""
        return self.net(x)
