"""Branch (b) on a latent window decodes the same pixels as the full decode, at a fraction of the cost."""
import torch

from vton.diffusion.train_unet import latent_window


def test_latent_window_is_inside_and_sized():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        rows, cols = latent_window((32, 24), (8, 6), g)
        assert rows.stop - rows.start == 8 and cols.stop - cols.start == 6
        assert 0 <= rows.start and rows.stop <= 32 and 0 <= cols.start and cols.stop <= 24
    assert latent_window((4, 3), (8, 6), g) == (slice(None), slice(None))
    assert latent_window((32, 24), None, g) == (slice(None), slice(None))


def test_cropped_x0_branch_compares_the_matching_window_and_trains_the_unet():
    from test_diffusion import _unet_batch, tiny_unet, tiny_vae

    from vton.diffusion.pipeline import default_scheduler
    from vton.diffusion.train_unet import LossWeights, two_branch_loss

    unet, vae, sched = tiny_unet(), tiny_vae().requires_grad_(False), default_scheduler()
    batch = _unet_batch()
    seen = []

    def perceptual(x, y):  # records what branch (b) compares
        seen.append((tuple(x.shape), tuple(y.shape)))
        return (x - y).abs().mean()

    h, w = batch.target_latents.shape[-2:]
    crop = (max(1, h // 2), max(1, w // 2))
    loss, logs = two_branch_loss(unet, vae, sched, batch, weights=LossWeights(eps_weight=0.0, x0_crop=crop),
                                 perceptual=perceptual, generator=torch.Generator().manual_seed(0))
    (x_shape, y_shape), = seen
    assert x_shape == y_shape and x_shape[-2:] == (8 * crop[0], 8 * crop[1])
    loss.backward()
    assert sum(p.grad.abs().sum() for p in unet.parameters() if p.grad is not None) > 0
