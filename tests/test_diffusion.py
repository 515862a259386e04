import math

import torch

from diffdefense.diffusion import LinearSchedule


def test_code_schedule_matches_the_authors_numbers():
    # REFERENCE-NOTES: with the 15-step schedule alpha-bar at T* is 0.859 and the reverse process scales z by 1.0789.
    schedule = LinearSchedule(15, 1e-4, 0.02)
    assert math.isclose(float(schedule.alphas_cumprod[-1]), 0.859, abs_tol=5e-4)
    z, eps = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    for k in reversed(range(15)):
        z = schedule.ddim_step(z, eps, k, torch.zeros_like(z))
    torch.testing.assert_close(z, torch.full_like(z, 1.0789), atol=1e-4, rtol=0)


def test_ddim_noise_total_matches_authors_code():
    # Their DDIM-like step adds fresh noise of about 0.36 std in total at z_0 (eta = 1).
    schedule = LinearSchedule(15, 1e-4, 0.02)
    torch.manual_seed(0)
    z = torch.zeros(20000, 1, 1, 1)
    for k in reversed(range(15)):
        z = schedule.ddim_step(z, torch.zeros_like(z), k, torch.randn_like(z))
    assert abs(z.std().item() - 0.357) < 0.01


def test_q_sample_and_ancestral_step_invert_with_true_noise():
    schedule = LinearSchedule(100, 1e-5, 0.02)
    x0, noise = torch.rand(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    x1 = schedule.q_sample(x0, torch.zeros(8, dtype=torch.long), noise)
    # At the first step the ancestral mean with the true noise gives back x0 exactly (no noise added at k=0).
    torch.testing.assert_close(schedule.ancestral_step(x1, noise, 0, torch.randn_like(x0)), x0, atol=1e-5, rtol=0)


def test_training_loss_is_seeded():
    schedule = LinearSchedule(10)
    model = lambda x, t: x * 0.5  # noqa: E731
    x0 = torch.rand(4, 1, 28, 28)
    a = schedule.training_loss(model, x0, torch.Generator().manual_seed(3))
    b = schedule.training_loss(model, x0, torch.Generator().manual_seed(3))
    assert a.item() == b.item() > 0


def test_ddpm_training_resumed_after_a_stop_equals_the_uninterrupted_run():
    from diffdefense.models import UNet
    from diffdefense.training import train_ddpm

    schedule, images = LinearSchedule(10, 1e-4, 0.02), torch.rand(16, 1, 28, 28)
    settings = dict(lr=1e-3, batch_size=8, seed=0, device=torch.device("cpu"))
    torch.manual_seed(0)
    straight = UNet()
    train_ddpm(straight, schedule, images, epochs=2, **settings)

    torch.manual_seed(0)
    stopped, states = UNet(), []
    train_ddpm(stopped, schedule, images, epochs=1, on_checkpoint=states.append, **settings)
    resumed = UNet()
    resumed.load_state_dict(stopped.state_dict())
    train_ddpm(resumed, schedule, images, epochs=2, resume=states[-1], **settings)
    for name, weight in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], weight, atol=0, rtol=0)


def test_sampling_with_the_exact_noise_predictor_of_one_image_generates_that_image():
    # For data that is a single image c, the exact predictor is eps(z_t) = (z_t - sqrt(abar_t) c) / sqrt(1 - abar_t);
    # the full reverse process from any z_T must then end at c (the last step adds no noise).
    schedule = LinearSchedule(100, 1e-4, 0.02)
    target = torch.rand(1, 1, 4, 4) * 0.8 + 0.1

    def exact(z, t):
        abar = schedule.alphas_cumprod.to(z.dtype)[t].view(-1, 1, 1, 1)
        return (z - abar.sqrt() * target) / (1 - abar).sqrt()

    samples = schedule.sample(exact, (6, 1, 4, 4), torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples, target.expand(6, -1, -1, -1), atol=1e-4, rtol=0)
    again = schedule.sample(exact, (6, 1, 4, 4), torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)  # the generator alone decides the draws


def test_the_subsampled_schedule_has_the_trained_noise_levels_at_the_indices_the_network_is_told():
    from diffdefense.diffusion import SubsampledSchedule

    trained = LinearSchedule(100, 1e-5, 0.02)
    sub = SubsampledSchedule(trained, 15)
    steps = [sub.network_step(k) for k in range(15)]
    assert steps == list(range(0, 90, 6))  # diffusers' "leading" spacing: 100 // 15 = 6
    for k, t in enumerate(steps):
        assert float(sub.alphas_cumprod[k]) == float(trained.alphas_cumprod[t])
        assert float(sub.alphas_cumprod_prev[k]) == (1.0 if k == 0 else float(trained.alphas_cumprod[steps[k - 1]]))
    rebuilt = LinearSchedule(15, 1e-4, 0.02)  # the authors' code: its index 14 is not the trained index 14
    assert abs(float(rebuilt.alphas_cumprod[14]) - float(trained.alphas_cumprod[14])) > 0.1
