import pytest
import torch

from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.models import ClassifierA, ClassifierB, UNet, load_ddpm, load_weights, save_ddpm, save_weights


@pytest.mark.parametrize("cls", [ClassifierA, ClassifierB])
def test_classifiers_map_images_to_ten_logits(cls):
    assert cls()(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_unet_shape_size_and_shared_time_step():
    unet = UNet().eval()
    # the authors' network (REFERENCE-NOTES): LayerNorm in every block, 437,694 trainable parameters
    assert sum(p.numel() for p in unet.parameters() if p.requires_grad) == 437_694
    x = torch.randn(4, 1, 28, 28)
    per_image = unet(x, torch.full((4,), 7))
    assert per_image.shape == x.shape
    torch.testing.assert_close(unet(x, torch.tensor(7)), per_image)


def test_weights_roundtrip(tmp_path):
    model = ClassifierA()
    save_weights(model, tmp_path / "a.safetensors")
    loaded = load_weights(ClassifierA(), tmp_path / "a.safetensors", made_by="train_classifier@A")
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_truncated_weights_give_a_clear_error(tmp_path):
    save_weights(ClassifierA(), tmp_path / "a.safetensors")
    data = (tmp_path / "a.safetensors").read_bytes()
    (tmp_path / "a.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="not a readable safetensors file"):
        load_weights(ClassifierA(), tmp_path / "a.safetensors", made_by="train_classifier@A")


def test_weights_of_another_architecture_are_rejected(tmp_path):
    save_weights(ClassifierB(), tmp_path / "b.safetensors")
    with pytest.raises(UsageError, match="does not fit ClassifierA"):
        load_weights(ClassifierA(), tmp_path / "b.safetensors", made_by="train_classifier@A")


def test_missing_weights_name_the_stage(tmp_path):
    with pytest.raises(UsageError, match=r"missing input .*train_ddpm"):
        load_ddpm(tmp_path / "ddpm.safetensors")


def test_ddpm_keeps_its_schedule(tmp_path):
    save_ddpm(UNet(), LinearSchedule(100, 1e-5, 0.02), tmp_path / "ddpm.safetensors")
    _, schedule = load_ddpm(tmp_path / "ddpm.safetensors")
    assert (schedule.num_steps, schedule.beta_start, schedule.beta_end) == (100, 1e-5, 0.02)
